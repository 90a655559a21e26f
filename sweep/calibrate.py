"""``sweep calibrate``: how far to trust a cheap proxy (proxy fidelity, GitHub issue 7).

A calibration file is an ordinary search-space file with a ``calibration:`` section::

    calibration:
      study: null             # default: <study>-calibration-<profile>
      design: sobol           # sobol | lhs (scrambled, seeded, over the searched parameters'
                              # Optuna space, range pairs as (min, span)) | list
      configs: 12             # configurations (at least 10)
      list: []                # design: list: one {param: value} per configuration
      seeds: [0, 1, 2]        # replicates of every (configuration, level), at least 2
      seed: 0                 # root seed of the design and of the bootstrap
      metric: headline        # default: the first objective (its direction)
      direction: maximize
      baselines: {scratch: maximize, pretrain_loss: minimize}   # trivial predictors
      top_k: 3
      threshold: 0.8          # the verdict: cheapest level with corrected rho >= threshold
      bootstrap: 2000         # two-stage bootstrap replicates
      levels:                 # the fidelity ladder, cheapest first; the last is the target
        - {name: L1, recipe: {classes: 32, instances: 32, pretrain_epochs: 10}}
        - {name: L2, recipe: {pretrain_epochs: 20}}
        - {name: L3, recipe: {}}
      profiles:               # per-profile overrides of any key above but study
        cpu: {configs: 10, seeds: [0, 1], levels: [...]}

Every (configuration, level, seed) is one trial of the calibration study, in the file's storage:
the trials are enqueued with fixed parameters and a ``sweep:fixed`` user attribute (the level's
recipe overrides, the seed, labels ``calibration:config|level|seed``) and run by the ordinary
engine (:func:`sweep.engine.run`: worker processes, heartbeats, a dead worker's trial retried
with the same parameters and level). Running the command again resumes: completed cells are
kept, missing or failed ones are run. The analysis (:mod:`sweep.fidelity`) is stored on the study
as ``sweep:calibration``; ``sweep launch`` warns (:func:`launch_warning`) when a search of the
same question runs below the level the verdict trusts, and :func:`report_section` gives the
HTML report its calibration section.

Baselines: ``scratch`` is the same model fine-tuned without pre-training (the mean over the
downstreams of ``<downstream>/scratch_<headline kind>``; it does not depend on the configuration,
so it scores what a random pick scores), ``pretrain_loss`` the final pre-training loss (lower
predicting better); any other name is a metric the trials store.
"""

from __future__ import annotations

import datetime
import hashlib
import html
import itertools
import json
import math
import sys
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sweep.errors import SweepError, did_you_mean

ATTR_PLAN = "sweep:calibration_plan"
ATTR_SUMMARY = "sweep:calibration"
LABEL_CONFIG = "calibration:config"
LABEL_LEVEL = "calibration:level"
LABEL_SEED = "calibration:seed"
KEYS = ("study", "design", "configs", "list", "seeds", "seed", "metric", "direction",
        "baselines", "top_k", "threshold", "bootstrap", "levels", "profiles")  # fmt: skip
LEVEL_KEYS = ("name", "recipe")
DESIGNS = ("sobol", "lhs", "list")
MIN_CONFIGS = 10
DEFAULT_BASELINES = {"scratch": "maximize", "pretrain_loss": "minimize"}
DIRECTIONS = ("maximize", "minimize")


@dataclass(frozen=True)
class Level:
    name: str
    recipe: Mapping[str, Any]
    resolved: Mapping[str, Any]  # the whole resolved recipe


@dataclass(frozen=True)
class Calibration:
    """The calibration section of one profile, validated."""

    profile: str
    study: str
    design: str
    configs: tuple[Mapping[str, Any], ...]  # Optuna raw parameters of each configuration
    values: tuple[Mapping[str, Any], ...]  # the searched values of each configuration
    seeds: tuple[int, ...]
    seed: int
    metric: str
    direction: str
    baselines: Mapping[str, str]
    top_k: int
    threshold: float
    bootstrap: int
    levels: tuple[Level, ...]

    @property
    def ladder_fields(self) -> list[str]:
        """Recipe fields whose resolved values differ between levels."""
        first = self.levels[0].resolved
        return [k for k in first if any(lv.resolved[k] != first[k] for lv in self.levels)]

    def ladder(self, level: Level) -> dict[str, Any]:
        return {k: level.resolved[k] for k in self.ladder_fields}

    def cells(self) -> list[tuple[int, Level, int]]:
        """(configuration, level, seed), seed-major: a partial run has every level at seed 0."""
        return [(i, lv, s) for s in self.seeds for lv in self.levels
                for i in range(len(self.configs))]  # fmt: skip

    def plan_hash(self, space_hash: str) -> str:
        """What the trials are: the search space, configurations, levels and seeds."""
        payload = {"space": space_hash, "configs": list(self.configs), "seeds": list(self.seeds),
                   "levels": [[lv.name, dict(lv.recipe)] for lv in self.levels]}  # fmt: skip
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


# ----------------------------------------------------------------------------- the file
def load_calibration(spec, profile: str | None = None) -> dict[str, Calibration]:
    """The ``calibration:`` section of a loaded study file, validated for every profile (or
    ``profile``); errors are one line ``file:line: calibration.key: message``."""
    from sweep.space import PROFILES

    cfg = spec.cfg
    raw = cfg.data.get("calibration")
    if raw is None:
        raise cfg.error((), "no 'calibration:' section; see search_spaces/calibrate_freq.yaml")
    if not isinstance(raw, Mapping):
        raise cfg.error(("calibration",), "expected a mapping (configs, seeds, levels, ...)")
    _check_keys(cfg, ("calibration",), raw, KEYS)
    blocks = raw.get("profiles") or {}
    if not isinstance(blocks, Mapping):
        raise cfg.error(("calibration", "profiles"), "expected {cpu: {...}, gpu: {...}}")
    for name, block in blocks.items():
        if name not in PROFILES:
            raise cfg.error(("calibration", "profiles", name), f"unknown profile"
                            f"{did_you_mean(str(name), PROFILES)}; valid: cpu, gpu")  # fmt: skip
        if not isinstance(block, Mapping):
            raise cfg.error(("calibration", "profiles", name), "expected a mapping")
        _check_keys(cfg, ("calibration", "profiles", name), block,
                    tuple(k for k in KEYS if k not in ("profiles", "study")))  # fmt: skip
    return {p: _parse_profile(spec, raw, blocks.get(p) or {}, p)
            for p in ([profile] if profile else PROFILES)}  # fmt: skip


def _check_keys(cfg, at: tuple, value: Mapping, allowed: tuple[str, ...]) -> None:
    for k in value:
        if k not in allowed:
            raise cfg.error((*at, k), f"unknown key{did_you_mean(str(k), allowed)}; valid: "
                            f"{', '.join(allowed)}")  # fmt: skip


def _parse_profile(spec, raw: Mapping, block: Mapping, prof: str) -> Calibration:
    from sweep.space import _STUDY_RE

    cfg = spec.cfg

    def get(key: str, default: Any = None) -> tuple[Any, tuple]:
        if key in block:
            return block[key], ("calibration", "profiles", prof, key)
        return raw.get(key, default), ("calibration", key)

    study, at = get("study")
    if study is None:
        study = f"{spec.study}-calibration-{prof}"
    elif not isinstance(study, str) or not _STUDY_RE.match(study) or study == spec.study:
        raise cfg.error(at, f"expected a study name (letters, digits, '.', '_', '-') other "
                        f"than the search's own '{spec.study}', got {study!r}")  # fmt: skip
    seed, at = get("seed", 0)
    if not _is_int(seed) or seed < 0:
        raise cfg.error(at, f"expected a non-negative integer, got {seed!r}")
    seeds, at = get("seeds", list(spec.seeds) if len(spec.seeds) >= 2 else [0, 1, 2])
    if (not isinstance(seeds, list) or len(seeds) < 2 or len(set(map(str, seeds))) != len(seeds)
            or not all(_is_int(s) and s >= 0 for s in seeds)):  # fmt: skip
        raise cfg.error(at, f"expected at least 2 distinct non-negative integers (replicates: "
                        f"the noise ceiling needs two), got {seeds!r}")  # fmt: skip
    metric, direction = _parse_metric(spec, get)
    baselines = _parse_baselines(cfg, *get("baselines", DEFAULT_BASELINES))
    levels = _parse_levels(spec, prof, *get("levels"))
    design, at = get("design", "sobol")
    if design not in DESIGNS:
        raise cfg.error(at, f"unknown design {design!r}{did_you_mean(str(design), DESIGNS)}; "
                        f"choose one of: {', '.join(DESIGNS)}")  # fmt: skip
    n, n_at = get("configs")
    if n is not None and (not _is_int(n) or n < MIN_CONFIGS):
        raise cfg.error(n_at, f"expected an integer >= {MIN_CONFIGS} (rank correlations over "
                        f"fewer configurations are too noisy to act on), got {n!r}")  # fmt: skip
    entries, list_at = get("list")
    if design == "list":
        configs, values = _parse_list(spec, prof, entries, list_at, levels)
        if n is not None and n != len(configs):
            raise cfg.error(n_at, f"configs: {n} but the list has {len(configs)} entries; "
                            "remove configs or make them agree")  # fmt: skip
    else:
        if entries is not None:
            raise cfg.error(list_at, f"a list applies to design: list, not {design}")
        configs, values = _draw(spec, prof, design, n or 12, seed, n_at, levels)
    top_k, at = get("top_k", 3)
    if not _is_int(top_k) or not 1 <= top_k < len(configs):
        raise cfg.error(at, f"expected an integer in [1, {len(configs) - 1}], got {top_k!r}")
    threshold, at = get("threshold", 0.8)
    if not _is_number(threshold) or not 0 < threshold <= 1:
        raise cfg.error(at, f"expected a correlation in (0, 1], got {threshold!r}")
    boot, at = get("bootstrap", 2000)
    if not _is_int(boot) or boot < 100:
        raise cfg.error(at, f"expected an integer >= 100 (bootstrap replicates), got {boot!r}")
    return Calibration(
        profile=prof, study=study, design=design, configs=tuple(configs), values=tuple(values),
        seeds=tuple(seeds), seed=seed, metric=metric, direction=direction, baselines=baselines,
        top_k=top_k, threshold=float(threshold), bootstrap=boot, levels=tuple(levels),
    )  # fmt: skip


def _parse_metric(spec, get) -> tuple[str, str]:
    cfg = spec.cfg
    metric, at = get("metric")
    objectives = dict(spec.objectives)
    if metric is None:
        metric = spec.objectives[0][0]
    elif not isinstance(metric, str) or not metric.strip():
        raise cfg.error(at, f"expected a metric name (headline, finetune_mean, ...), got "
                        f"{metric!r}")  # fmt: skip
    direction, at = get("direction", objectives.get(metric, "maximize"))
    if direction not in DIRECTIONS:
        raise cfg.error(at, f"direction {direction!r}{did_you_mean(str(direction), DIRECTIONS)}"
                        ": use maximize or minimize")  # fmt: skip
    return metric, direction


def _parse_baselines(cfg, raw: Any, at: tuple) -> dict[str, str]:
    if raw is None or raw == "none":
        return {}
    if not isinstance(raw, Mapping):
        raise cfg.error(at, "expected {metric: maximize|minimize}, e.g. {scratch: maximize, "
                        "pretrain_loss: minimize}")  # fmt: skip
    for name, d in raw.items():
        if d not in DIRECTIONS:
            raise cfg.error((*at, name), f"expected maximize or minimize, got {d!r}")
    return {str(k): v for k, v in raw.items()}


def _parse_levels(spec, prof: str, raw: Any, at: tuple) -> list[Level]:
    import re

    from proxy_tasks.recipe import as_dict, make_recipe
    from sweep.generators import generator_class

    cfg = spec.cfg
    if not isinstance(raw, list) or len(raw) < 2:
        raise cfg.error(
            at,
            "expected a list of at least 2 levels, cheapest first, e.g. "
            "[{name: L1, recipe: {pretrain_epochs: 5}}, {name: L2, recipe: {}}]",
        )
    searched = {t[len("recipe.") :] for p in spec.search for t in p.targets
                if t.startswith("recipe.")}  # fmt: skip
    gen_cls = generator_class(spec.generator)
    levels: list[Level] = []
    seen: dict[str, int] = {}
    resolved_seen: dict[str, str] = {}
    for i, entry in enumerate(raw):
        keys = (*at, i)
        if not isinstance(entry, Mapping):
            raise cfg.error(keys, "expected {name: NAME, recipe: {field: value, ...}}")
        _check_keys(cfg, keys, entry, LEVEL_KEYS)
        name = entry.get("name")
        if not isinstance(name, str) or not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", name):
            raise cfg.error((*keys, "name") if "name" in entry else keys,
                            f"a level needs a name of letters, digits, '.', '_' or '-', got "
                            f"{name!r}")  # fmt: skip
        if name in seen:
            raise cfg.error((*keys, "name"), f"level '{name}' is listed twice")
        seen[name] = i
        recipe = entry.get("recipe") or {}
        if not isinstance(recipe, Mapping):
            raise cfg.error((*keys, "recipe"), "expected a mapping of recipe fields")
        for field in recipe:
            if field in searched:
                raise cfg.error((*keys, "recipe", field), f"recipe.{field} is searched; a "
                                "level cannot fix it")  # fmt: skip
        try:
            r = make_recipe(prof, {**spec.recipe(prof), **recipe})
        except SweepError as e:
            field = str(e).split(":", 1)[0].removeprefix("recipe.")
            where = (*keys, "recipe", field) if field in recipe else (*keys, "recipe")
            raise cfg.error(where, f"{e} ({prof} profile)") from None
        try:
            gen_cls(spec.generator_params(prof), image_size=r.img_size)
        except SweepError as e:
            raise cfg.error((*keys, "recipe"), f"{e} ({prof} profile)") from None
        resolved = as_dict(r)
        text = json.dumps(resolved, sort_keys=True)
        if text in resolved_seen:
            raise cfg.error(keys, f"level '{name}' resolves to the same recipe as level "
                            f"'{resolved_seen[text]}' ({prof} profile)")  # fmt: skip
        resolved_seen[text] = name
        levels.append(Level(name=name, recipe=_jsonable(dict(recipe)), resolved=resolved))
    return levels


# ----------------------------------------------------------------------------- configurations
def _check_config(spec, prof: str, values: Mapping[str, Any], levels) -> str | None:
    """None when the generator accepts the configuration at every level, else the reason."""
    from proxy_tasks.recipe import make_recipe
    from sweep.generators import generator_class
    from sweep.space import apply_values

    gen, rec, _ = apply_values(spec, values, profile=prof)
    gen_cls = generator_class(spec.generator)
    for lv in levels:
        try:
            r = make_recipe(prof, {**rec, **lv.recipe})
            gen_cls(gen, image_size=r.img_size)
        except SweepError as e:
            return str(e)
    return None


def _from_unit(dist, u: float) -> Any:
    """The value of an Optuna distribution at quantile-like coordinate ``u`` in [0, 1)."""
    from optuna.distributions import CategoricalDistribution, IntDistribution

    if isinstance(dist, CategoricalDistribution):
        n = len(dist.choices)
        return dist.choices[min(int(u * n), n - 1)]
    if isinstance(dist, IntDistribution):
        if dist.log:
            lo, hi = math.log(dist.low), math.log(dist.high + 1)
            return min(int(math.exp(lo + u * (hi - lo))), dist.high)
        n = (dist.high - dist.low) // dist.step + 1
        return int(dist.low + min(int(u * n), n - 1) * dist.step)
    if dist.log:
        lo, hi = math.log(dist.low), math.log(dist.high)
        return float(min(math.exp(lo + u * (hi - lo)), dist.high))
    if dist.step:
        n = round((dist.high - dist.low) / dist.step) + 1
        return float(round(dist.low + min(int(u * n), n - 1) * dist.step, 12))
    return float(dist.low + u * (dist.high - dist.low))


def _draw(spec, prof, design, n, seed, at, levels) -> tuple[list[dict], list[dict]]:
    """``n`` distinct valid configurations from a scrambled Sobol sequence or a Latin
    hypercube over the search's static Optuna space (seeded by ``calibration.seed``)."""
    from scipy.stats import qmc

    from sweep.seeding import Seeds
    from sweep.space import search_space, values_from_params

    space = search_space(spec)
    names = list(space)
    rng = Seeds(seed).rng("calibration", "design")
    kind = qmc.Sobol if design == "sobol" else qmc.LatinHypercube
    try:
        engine = kind(len(names), scramble=True, rng=rng)
    except TypeError:  # SciPy < 1.15 names it seed
        engine = kind(len(names), scramble=True, seed=rng)
    configs, values, seen = [], [], set()
    rejected = None
    for _ in range(64):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Sobol balance: n need not be a power of 2
            points = engine.random(n)
        for u in points:
            params = {k: _from_unit(space[k], float(x)) for k, x in zip(names, u, strict=True)}
            vals = _jsonable(values_from_params(spec, params))
            key = json.dumps(vals, sort_keys=True)
            if key in seen:
                continue
            seen.add(key)
            why = _check_config(spec, prof, vals, levels)
            if why is not None:
                rejected = why
                continue
            configs.append(_jsonable(params))
            values.append(vals)
            if len(configs) == n:
                return configs, values
    extra = f" (configurations rejected by the generator: {rejected})" if rejected else ""
    raise spec.cfg.error(at, f"the search space has only {len(configs)} distinct valid "
                         f"configurations{extra}; ask for fewer or widen the search")  # fmt: skip


def _parse_list(spec, prof, entries, at, levels) -> tuple[list[dict], list[dict]]:
    cfg = spec.cfg
    if not isinstance(entries, list) or len(entries) < MIN_CONFIGS:
        raise cfg.error(
            at,
            f"design: list needs a list of at least {MIN_CONFIGS} "
            "configurations, each {param: value} for every searched parameter",
        )
    names = [p.name for p in spec.search]
    configs, values, seen = [], [], {}
    for i, entry in enumerate(entries):
        keys = (*at, i)
        if not isinstance(entry, Mapping):
            raise cfg.error(keys, f"expected {{{', '.join(f'{n}: ...' for n in names)}}}")
        _check_keys(cfg, keys, entry, tuple(names))
        missing = [n for n in names if n not in entry]
        if missing:
            raise cfg.error(keys, f"missing searched parameter(s) {', '.join(missing)}")
        params: dict[str, Any] = {}
        for p in spec.search:
            params.update(_to_raw(cfg, (*keys, p.name), p, entry[p.name]))
        vals = _jsonable({p.name: p.value(params) for p in spec.search})
        key = json.dumps(vals, sort_keys=True)
        if key in seen:
            raise cfg.error(keys, f"the same configuration as list entry {seen[key]}")
        seen[key] = i
        why = _check_config(spec, prof, vals, levels)
        if why is not None:
            raise cfg.error(keys, f"an invalid configuration ({prof} profile): {why}")
        configs.append(_jsonable(params))
        values.append(vals)
    return configs, values


def _to_raw(cfg, keys: tuple, p, value: Any) -> dict[str, Any]:
    """A searched value as Optuna raw parameters, reproduced exactly by ``p.value``."""
    if p.type == "categorical":
        text = json.dumps(_jsonable(value), sort_keys=True)
        choices = [json.dumps(c, sort_keys=True) for c in p.choices]
        if text not in choices:
            raise cfg.error(keys, f"{value!r} is not one of the choices {list(p.choices)}")
        return {p.name: p.optuna_choices()[choices.index(text)]}
    bad = f"expected {'a [min, max] pair' if p.is_range else 'a number'} in [{p.low:g}, " \
          f"{p.high:g}]"  # fmt: skip
    if p.is_range:
        if not (isinstance(value, list) and len(value) == 2 and all(map(_is_number, value))):
            raise cfg.error(keys, f"{bad}, got {value!r}")
        lo, hi = value
        base = lo + p.min_width
        if not (p.low <= lo and base <= hi <= p.high):
            raise cfg.error(keys, f"{bad} with max - min >= {p.min_width:g}, got {value!r}")
        if base >= p.high:
            span = 0.0
        elif p.log:
            span = math.log(hi / base) / math.log(p.high / base)
        else:
            span = (hi - base) / (p.high - base)
        raw = {f"{p.name}.min": int(lo) if p.is_int else float(lo), f"{p.name}.span": span}
    else:
        if not _is_number(value) or not p.low <= value <= p.high:
            raise cfg.error(keys, f"{bad}, got {value!r}")
        raw = {p.name: int(value) if p.is_int else float(value)}
    got = p.value(raw)
    want = list(value) if p.is_range else [value]
    got = list(got) if p.is_range else [got]
    same = all(
        math.isclose(g, w, rel_tol=1e-9, abs_tol=1e-12) for g, w in zip(got, want, strict=True)
    )
    if not same or (p.is_int and not all(float(w).is_integer() for w in want)):
        kind = "integers" if p.is_int else "numbers"
        step = f" on the grid of step {p.step:g}" if p.step else ""
        raise cfg.error(keys, f"{value!r} is not a value this parameter takes ({kind}{step})")
    return raw


# ----------------------------------------------------------------------------- running
def calibrate(
    path: str,
    *,
    profile: str | None = None,
    storage: str | None = None,
    workers: int | None = None,
    device: str = "auto",
    analyze_only: bool = False,
    progress: bool = True,
    cache_dir: str | None = "runs/cache",
) -> dict[str, Any]:
    """Run (or resume) the calibration of a file and analyse it; returns the stored summary."""
    import optuna

    from proxy_tasks.vit import resolve_profile, resolve_torch_device
    from sweep import engine
    from sweep.space import load_study_config, mask_url

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = load_study_config(path, storage=storage)
    cals = load_calibration(spec)  # every profile: a bad gpu section fails on a laptop too
    if workers is not None and workers < 1:
        raise SweepError("--workers must be a positive integer")
    dev = resolve_torch_device(device)
    asked = profile or spec.profile
    prof = resolve_profile(asked, dev)
    if asked == "auto":
        why = "a CUDA device is available" if dev.type == "cuda" else "no CUDA device"
        print(f"sweep: profile '{prof}' ({why}); override with --profile", file=sys.stderr)
    cal = cals[prof]
    space_hash = spec.space_hash(prof)
    plan_hash = cal.plan_hash(space_hash)
    t0 = time.perf_counter()
    if analyze_only:
        study = _load_existing(spec, cal)
    else:
        study = _prepare(spec, cal, prof, space_hash, plan_hash)
        budget = engine._used_budget(study) + engine.counts(study)["WAITING"]
        print(f"sweep: calibration '{cal.study}': {len(cal.configs)} configurations x "
              f"{len(cal.levels)} levels x {len(cal.seeds)} seeds = {len(cal.cells())} trials",
              file=sys.stderr)  # fmt: skip
        engine.run(path, profile=prof, storage=storage, workers=workers, trials=budget,
                   device=device, fork=cal.study, progress=progress,
                   cache_dir=cache_dir)  # fmt: skip
    old = study.user_attrs.get(ATTR_PLAN, {}).get("hash")
    if old != plan_hash:
        raise SweepError(f"calibration study '{cal.study}' in {mask_url(spec.storage)} was "
                         "made from another calibration (search space, configurations, levels "
                         "or seeds); name a new one with calibration.study")  # fmt: skip
    summary = analyze(study, spec, cal)
    study.set_user_attr(ATTR_SUMMARY, summary)
    return {**summary, "run_seconds": round(time.perf_counter() - t0, 1)}


def _load_existing(spec, cal: Calibration):
    import optuna

    from sweep.space import make_storage, mask_url

    url = spec.storage
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///") :]).is_file():
        raise SweepError(f"no calibration study '{cal.study}': {mask_url(url)} does not exist; "
                         "run sweep calibrate without --analyze-only first")  # fmt: skip
    try:
        return optuna.load_study(study_name=cal.study, storage=make_storage(url, heartbeat=False))
    except KeyError:
        raise SweepError(
            f"no calibration study '{cal.study}' in {mask_url(url)}; run sweep "
            "calibrate without --analyze-only first"
        ) from None


def _prepare(spec, cal: Calibration, prof: str, space_hash: str, plan_hash: str):
    """Create or load the calibration study and enqueue every cell that has no completed,
    waiting or running trial (a failed cell is enqueued again, as a retry of its failure)."""
    import optuna
    from optuna.trial import TrialState

    from sweep import engine
    from sweep.space import make_storage, mask_url

    storage = make_storage(spec.storage)
    try:
        old = optuna.load_study(study_name=cal.study, storage=storage)
        stored = old.user_attrs.get(ATTR_PLAN, {})
        if stored.get("hash") != plan_hash:
            what = "another calibration (search space, configurations, levels or seeds)"
            if not stored:
                what = "sweep launch, not sweep calibrate"
            raise SweepError(f"study '{cal.study}' in {mask_url(spec.storage)} was made by "
                             f"{what}; name a new one with calibration.study, or delete it "
                             "(optuna delete-study)")  # fmt: skip
    except KeyError:
        pass
    study = engine._open_study(spec, prof, cal.study, create=True)
    study.set_user_attr(ATTR_PLAN, {
        "hash": plan_hash, "version": 1, "base_study": spec.study, "question": spec.question,
        "generator": spec.generator, "profile": prof, "design": cal.design,
        "seeds": list(cal.seeds),
        "configs": [{"index": i, "params": c, "values": v}
                    for i, (c, v) in enumerate(zip(cal.configs, cal.values, strict=True))],
        "levels": [{"name": lv.name, "recipe": dict(lv.recipe), "ladder": cal.ladder(lv)}
                   for lv in cal.levels],
        "ladder_fields": cal.ladder_fields,
    })  # fmt: skip
    engine.fail_orphans(study)  # trials of a killed earlier run: failed, retried once
    by_cell: dict[tuple, list] = {}
    for t in study.get_trials(deepcopy=False):
        labels = (t.user_attrs.get(engine.FIXED_ATTR) or {}).get("attrs") or {}
        key = (labels.get(LABEL_CONFIG), labels.get(LABEL_LEVEL), labels.get(LABEL_SEED))
        by_cell.setdefault(key, []).append(t)
    retried = {engine._retry_of(t) for t in study.get_trials(deepcopy=False)} - {None}
    live = (TrialState.COMPLETE, TrialState.WAITING, TrialState.RUNNING)
    for i, lv, seed in cal.cells():
        trials = by_cell.get((i, lv.name, seed), [])
        if any(t.state in live for t in trials):
            continue
        labels = {LABEL_CONFIG: i, LABEL_LEVEL: lv.name, LABEL_SEED: seed}
        attrs: dict[str, Any] = {
            engine.FIXED_ATTR: {"recipe": dict(lv.recipe), "seeds": [seed], "attrs": labels},
            **labels,
        }
        failed = [t.number for t in trials if t.number not in retried]
        if failed:
            attrs[engine.RETRY_ATTR] = failed[-1]
        study.enqueue_trial(dict(cal.configs[i]), user_attrs=attrs, skip_if_exists=False)
    return study


# ----------------------------------------------------------------------------- analysis
def _scratch(t, resolved: Mapping[str, Any]) -> float | None:
    kind = resolved.get("headline", "finetune")
    vals = [t.user_attrs.get(f"{d}/scratch_{kind}") for d in resolved.get("downstreams", [])]
    if not vals or any(not _is_number(v) for v in vals):
        return None
    return float(sum(vals) / len(vals))


def analyze(study, spec, cal: Calibration) -> dict[str, Any]:
    """The calibration summary of the study's completed trials (stored as ``sweep:calibration``):
    per-level means and spreads, the fidelity analysis and the verdict."""
    import numpy as np
    from optuna.trial import TrialState

    from sweep import engine, fidelity
    from sweep.seeding import Seeds

    levels = [lv.name for lv in cal.levels]
    index = {lv.name: a for a, lv in enumerate(cal.levels)}
    n_c, n_l, n_s = len(cal.configs), len(levels), len(cal.seeds)
    seed_ix = {s: j for j, s in enumerate(cal.seeds)}
    names = [cal.metric, *cal.baselines]
    values = {m: np.full((n_l, n_c, n_s), np.nan) for m in names}
    seconds = np.full((n_l, n_c, n_s), np.nan)
    seen = set()
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        labels = (t.user_attrs.get(engine.FIXED_ATTR) or {}).get("attrs") or {}
        i, lv, s = labels.get(LABEL_CONFIG), labels.get(LABEL_LEVEL), labels.get(LABEL_SEED)
        if lv not in index or s not in seed_ix or not (_is_int(i) and 0 <= i < n_c):
            continue
        if t.params != dict(cal.configs[i]):
            continue  # not this plan's configuration
        cell = (index[lv], i, seed_ix[s])
        if cell in seen:
            continue  # the first completion of a cell counts
        seen.add(cell)
        for m in names:
            v = _scratch(t, cal.levels[index[lv]].resolved) if m == "scratch" and \
                m not in t.user_attrs else t.user_attrs.get(m)  # fmt: skip
            if _is_number(v):
                values[m][cell] = float(v)
        if _is_number(t.user_attrs.get("time_total_s")):
            seconds[cell] = t.user_attrs["time_total_s"]
    main = values[cal.metric]
    done = ~np.isnan(main)
    used = [i for i in range(n_c) if done[:, i, :].all()]
    counts = engine.counts(study)
    summary: dict[str, Any] = {
        "version": 1, "study": study.study_name,
        "base_study": study.user_attrs.get(ATTR_PLAN, {}).get("base_study", spec.study),
        "question": spec.question, "generator": spec.generator, "profile": cal.profile,
        "metric": cal.metric, "direction": cal.direction, "baselines": dict(cal.baselines),
        "seeds": list(cal.seeds), "design": cal.design, "ladder_fields": cal.ladder_fields,
        "levels": [{"name": lv.name, "recipe": dict(lv.recipe), "ladder": cal.ladder(lv),
                    "trials": int(done[a].sum()),
                    "seconds": _mean_or_none(seconds[a])}
                   for a, lv in enumerate(cal.levels)],
        "configs": [{"index": i, "values": v} for i, v in enumerate(cal.values)],
        "configs_used": used, "cells": n_c * n_l * n_s, "cells_done": int(done.sum()),
        "counts": counts,
        "total_trial_hours": round(float(np.nansum(seconds)) / 3600, 4),
        "analyzed_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "analysis": None, "notes": [],
    }  # fmt: skip
    target = cal.levels[-1]
    verdict: dict[str, Any] = {"level": None, "target": target.name, "threshold": cal.threshold,
                               "corrected": None, "ci": None, "confident": False}  # fmt: skip
    if len(used) < 3:
        summary["notes"].append(f"only {len(used)} configurations have every level and seed "
                                "complete; the analysis needs at least 3")  # fmt: skip
        summary["verdict"] = {**verdict, "status": "incomplete"}
        return fidelity.jsonable(summary)
    if len(used) < n_c:
        summary["notes"].append(f"{n_c - len(used)} configuration(s) left out: a level or seed "
                                "did not complete")  # fmt: skip
    sign = 1.0 if cal.direction == "maximize" else -1.0
    scores = {name: sign * main[a][used] for a, name in enumerate(levels)}
    base_scores: dict[str, dict[str, Any]] = {}
    for b, d in cal.baselines.items():
        bsign = 1.0 if d == "maximize" else -1.0
        per = {name: bsign * values[b][a][used] for a, name in enumerate(levels)
               if not np.isnan(values[b][a][used]).any()}  # fmt: skip
        if per:
            base_scores[b] = per
        else:
            summary["notes"].append(f"baseline '{b}': not stored by the trials")
    res = fidelity.analyse(
        levels, scores, baselines=base_scores, k=cal.top_k, threshold=cal.threshold,
        n_boot=cal.bootstrap, rng=Seeds(cal.seed).rng("calibration", "bootstrap"),
    )  # fmt: skip
    if sign < 0:  # report the means in the metric's own units
        for row in res["per_level"]:
            row["mean"] = [-v for v in row["mean"]]
    summary["analysis"] = res
    secs = [lv["seconds"] for lv in summary["levels"]]
    if all(s is not None for s in secs) and any(b <= a for a, b in itertools.pairwise(secs)):
        summary["notes"].append("levels are listed cheapest first, but the measured trial "
                                f"times are not increasing: {secs}")  # fmt: skip
    v = res["verdict"]
    verdict.update(corrected=v["corrected"], ci=v["ci"], confident=v["confident"])
    if v["level"] is not None:
        lv = cal.levels[index[v["level"]]]
        verdict.update(level=lv.name, recipe=dict(lv.recipe), ladder=cal.ladder(lv))
        if secs[index[lv.name]] and secs[-1]:
            verdict["speedup"] = secs[-1] / secs[index[lv.name]]
    verdict["status"] = "complete" if len(used) == n_c else "partial"
    summary["verdict"] = verdict
    return fidelity.jsonable(summary)


def _mean_or_none(x) -> float | None:
    import numpy as np

    return float(np.nanmean(x)) if np.isfinite(x).any() else None


# ----------------------------------------------------------------------------- sweep launch hook
def launch_warning(spec, profile: str, study) -> str | None:
    """One line when a search's recipe is below the level that a calibration of the same
    question (same base study, or same question text, same generator) in the same storage
    trusts; None otherwise, and never an exception (a launch must not fail here)."""
    try:
        return _launch_warning(spec, profile, study)
    except Exception:  # a warning hook must never break a launch
        return None


def _launch_warning(spec, profile: str, study) -> str | None:
    from proxy_tasks.recipe import as_dict, make_recipe

    if ATTR_PLAN in study.user_attrs:
        return None  # the calibration study itself
    found = []
    for fs in study._storage.get_all_studies():
        s = fs.user_attrs.get(ATTR_SUMMARY)
        if not s or fs.study_name == study.study_name or not s.get("analysis"):
            continue
        same = s.get("base_study") == spec.study or (
            spec.question and s.get("question") == spec.question
        )
        if same and s.get("generator") == spec.generator:
            found.append((s.get("profile") == profile, s.get("analyzed_at") or "", s))
    if not found:
        return None
    s = max(found, key=lambda f: (f[0], f[1]))[2]
    levels, v = s["levels"], s["verdict"]
    trusted = v.get("level") or v["target"]
    pos = [lv["name"] for lv in levels].index(trusted)
    searched = {t[len("recipe.") :] for p in spec.search for t in p.targets}
    mine = as_dict(make_recipe(profile, spec.recipe(profile)))
    below = []
    for field, want in levels[pos]["ladder"].items():
        if field in searched or field not in mine:
            continue
        have = mine[field]
        if _is_number(have) and _is_number(want):
            if have < want:
                below.append(f"{field} {_show(have)} < {_show(want)}")
        elif have != want and have in [lv["ladder"].get(field) for lv in levels[:pos]]:
            below.append(f"{field} {have!r} (a cheaper level's) instead of {want!r}")
    if not below:
        return None
    if v.get("level"):
        why = (f"the cheapest level whose corrected Spearman with '{v['target']}' is >= "
               f"{v['threshold']:g}: {_ci(v.get('corrected'), v.get('ci'))}")  # fmt: skip
    else:
        why = f"no cheaper level reached a corrected Spearman of {v['threshold']:g} with it"
    return (f"this search's recipe is below level '{trusted}' of calibration '{s['study']}' "
            f"({why}): {'; '.join(below)}; its ranking may not be the target's "
            f"(sweep calibrate FILE --analyze-only shows the numbers)")  # fmt: skip


# ----------------------------------------------------------------------------- reporting
def _show(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _ci(value, ci) -> str:
    if value is None:
        return "n/a"
    if not ci or ci[0] is None:
        return f"{value:.2f}"
    return f"{value:.2f} [{ci[0]:.2f}, {ci[1]:.2f}]"


def verdict_line(summary: Mapping[str, Any]) -> str:
    v = summary["verdict"]
    res = summary.get("analysis")
    if res is None:
        return f"verdict: incomplete ({'; '.join(summary.get('notes', []))})"
    n = f"{res['n_configs']} configurations x {res['n_seeds']} seeds"
    if v.get("level"):
        speed = f", {v['speedup']:.1f}x cheaper per trial" if v.get("speedup") else ""
        sure = "" if v.get("confident") else " (its interval reaches below the threshold)"
        return (f"verdict: '{v['level']}' is the cheapest level whose corrected Spearman with "
                f"'{v['target']}' is >= {v['threshold']:g}: {_ci(v['corrected'], v['ci'])}"
                f"{sure}{speed}; {n}")  # fmt: skip
    return (f"verdict: none: no level cheaper than '{v['target']}' reached a corrected "
            f"Spearman of {v['threshold']:g} with it; {n}")  # fmt: skip


def table_rows(summary: Mapping[str, Any]) -> list[dict[str, str]]:
    """One row per level: cost, noise and agreement with the target (strings)."""
    res = summary["analysis"]
    per = {r["level"]: r for r in res["per_level"]}
    vs = {r["level"]: r for r in res["vs_target"]}
    rows = []
    for lv in summary["levels"]:
        p, t = per[lv["name"]], vs.get(lv["name"])
        rows.append({
            "level": lv["name"],
            "recipe": ", ".join(f"{k}={_show(v)}" for k, v in lv["recipe"].items()) or "(base)",
            "s/trial": _show(lv["seconds"]) if lv["seconds"] is not None else "",
            "reliability": _ci(p["reliability"]["value"], p["reliability"]["ci"]),
            "ICC, one seed": _ci(p["icc1"]["value"], None),
            "sigma seed": _show(p["sigma_seed"]["value"]),
            "MDD": _show(p["mdd"]["value"]),
            "Spearman": _ci(t["spearman"]["value"], t["spearman"]["ci"]) if t else "target",
            "Kendall tau-b": _ci(t["kendall"]["value"], t["kendall"]["ci"]) if t else "",
            "corrected": _ci(t["corrected"]["value"], t["corrected"]["ci"]) if t else "",
            f"top-{res['top_k']} recall (chance)": _recall(t) if t else "",
            "regret": _show(t["regret"]["value"]) if t else "",
        })  # fmt: skip
    return rows


def _recall(row: Mapping[str, Any]) -> str:
    """Top-k recall next to a random pick's (older summaries lack the chance figure)."""
    chance = row.get("recall_chance")
    value = _ci(row["recall"]["value"], None)
    return f"{value} ({_ci(chance, None)})" if chance is not None else value


def baseline_rows(summary: Mapping[str, Any]) -> list[dict[str, str]]:
    res = summary["analysis"]
    return [{
        "baseline": b["baseline"], "at level": b["level"],
        "Spearman": _ci(b["spearman"]["value"], b["spearman"]["ci"]),
        "Kendall tau-b": _ci(b["kendall"]["value"], b["kendall"]["ci"]),
        "corrected": _ci(b["corrected"]["value"], b["corrected"]["ci"]),
        f"top-{res['top_k']} recall (chance)": _recall(b),
        "regret": _show(b["regret"]["value"]),
    } for b in res["baselines"]]  # fmt: skip


def _html_table(rows: list[dict[str, str]]) -> str:
    if not rows:
        return ""
    head = "".join(f"<th>{html.escape(k)}</th>" for k in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in r.values())
                   + "</tr>" for r in rows)  # fmt: skip
    return (f'<table class="calibration"><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table>")  # fmt: skip


def report_section(study) -> dict[str, Any] | None:
    """The calibration section of the HTML report: ``{"title", "figures" (plotly figures: the
    fidelity matrix heat map, a rank bump chart across levels, seed-noise bars), "html" (the
    verdict and the per-level table)}``; None when the study has no ``sweep:calibration``."""
    s = study.user_attrs.get(ATTR_SUMMARY)
    if not s:
        return None
    title = f"Proxy fidelity: calibration '{s['study']}' ({s['metric']}, {s['profile']} profile)"
    res = s.get("analysis")
    verdict = html.escape(verdict_line(s))
    if res is None:
        return {"title": title, "figures": [], "html": f"<p><b>{verdict}</b></p>"}
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in s.get("notes", []))
    method = (f"{res['n_configs']} configurations ({s['design']} design) x {len(s['levels'])} "
              f"levels x {res['n_seeds']} seeds; Spearman and Kendall tau-b of the seed means "
              f"with {int(res['interval'] * 100)}% two-stage bootstrap intervals "
              f"({res['bootstrap']} replicates: configurations, then seeds); corrected = "
              "Spearman / sqrt(split-half reliability of both levels, Spearman-Brown); MDD = "
              "2.8 sigma_seed sqrt(2/S); recall and regret of each level's top picks against "
              "the target's seed means, configurations within the target's MDD counting as "
              "ties.")  # fmt: skip
    body = (f"<p><b>{verdict}</b></p><p>{html.escape(method)}</p>"
            + _html_table(table_rows(s))
            + ("<h4>Trivial baselines against the target</h4>" + _html_table(baseline_rows(s))
               if res["baselines"] else "")
            + (f"<ul>{notes}</ul>" if notes else ""))  # fmt: skip
    return {"title": title, "figures": _figures(s), "html": body}


def _figures(s: Mapping[str, Any]) -> list:
    import plotly.graph_objects as go

    res = s["analysis"]
    names = res["levels"]
    mat = res["matrices"]

    def num(v):
        return float("nan") if v is None else v

    z = [[num(v) for v in row] for row in mat["corrected"]["value"]]

    def cell(a: int, b: int) -> str:
        lo, hi = num(mat["corrected"]["lo"][a][b]), num(mat["corrected"]["hi"][a][b])
        return (
            f"rho {num(mat['spearman']['value'][a][b]):.2f}<br>corrected "
            f"{num(mat['corrected']['value'][a][b]):.2f}<br>[{lo:.2f}, {hi:.2f}]"
        )

    text = [[cell(a, b) for b in range(len(names))] for a in range(len(names))]
    heat = go.Figure(go.Heatmap(z=z, x=names, y=names, text=text, texttemplate="%{text}",
                                colorscale="RdBu", zmin=-1, zmax=1,
                                colorbar={"title": "corrected rho"}))  # fmt: skip
    heat.update_layout(title="Fidelity matrix: attenuation-corrected Spearman between levels",
                       yaxis={"autorange": "reversed"})  # fmt: skip
    bump = go.Figure()
    per = res["per_level"]
    sign = 1.0 if s["direction"] == "maximize" else -1.0
    used = s["configs_used"]
    ranks = []
    for row in per:  # rank 1 = best
        order = sorted(range(len(used)), key=lambda c, row=row: -sign * row["mean"][c])
        r = [0] * len(used)
        for pos, c in enumerate(order):
            r[c] = pos + 1
        ranks.append(r)
    values = {c["index"]: c["values"] for c in s["configs"]}
    for c, idx in enumerate(used):
        label = ", ".join(f"{k}={v}" for k, v in values[idx].items())
        hover = [f"config {idx}: {label}<br>mean {per[a]['mean'][c]:.4g}"
                 for a in range(len(names))]  # fmt: skip
        bump.add_trace(go.Scatter(x=names, y=[ranks[a][c] for a in range(len(names))],
                                  mode="lines+markers", name=f"config {idx}", hovertext=hover,
                                  hoverinfo="text"))  # fmt: skip
    bump.update_layout(title=f"Rank of each configuration at each level (1 = best {s['metric']})",
                       yaxis={"autorange": "reversed", "title": "rank"})  # fmt: skip
    bars = go.Figure()
    for key, label in (("sigma_seed", "seed noise (sigma_seed)"),
                       ("sigma_config", "spread of configurations (sigma_config)"),
                       ("mdd", "minimal detectable difference")):  # fmt: skip
        vals = [num(r[key]["value"]) for r in per]
        lo = [num(r[key]["ci"][0]) if r[key]["ci"] else float("nan") for r in per]
        hi = [num(r[key]["ci"][1]) if r[key]["ci"] else float("nan") for r in per]
        up = [h - v for h, v in zip(hi, vals, strict=True)]
        down = [v - lo_ for lo_, v in zip(lo, vals, strict=True)]
        bars.add_trace(go.Bar(x=names, y=vals, name=label, error_y={
            "type": "data", "symmetric": False, "array": up, "arrayminus": down}))  # fmt: skip
    bars.update_layout(title=f"Seed noise against signal per level ({s['metric']})",
                       barmode="group")  # fmt: skip
    return [heat, bump, bars]


def print_summary(summary: Mapping[str, Any], *, as_json: bool = False) -> None:
    """The summary on stdout: JSON, or tables (quantities x levels, so that it fits a terminal)
    and the verdict line."""
    if as_json:
        print(json.dumps(summary, indent=1))
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    c = summary["counts"]
    print(f"calibration '{summary['study']}': {summary['cells_done']}/{summary['cells']} cells "
          f"complete (trials: complete {c['COMPLETE']}, failed {c['FAIL']}); "
          f"{summary['total_trial_hours'] * 60:.1f} trial-minutes"
          + (f", this run {summary['run_seconds'] / 60:.1f} minutes of wall time"
             if "run_seconds" in summary else ""))  # fmt: skip
    if summary.get("analysis"):
        rows = table_rows(summary)
        table = Table(title=f"fidelity of each level against '{summary['verdict']['target']}' "
                      f"({escape(summary['metric'])}; 95% intervals)")  # fmt: skip
        table.add_column("")
        for r in rows:
            table.add_column(escape(r["level"]))
        for key in list(rows[0])[1:]:
            table.add_row(escape(key), *(escape(r[key]) for r in rows))
        console.print(table)
        brows = baseline_rows(summary)
        if brows:
            table = Table(title="trivial baselines against the target")
            for col in brows[0]:
                table.add_column(escape(col))
            for r in brows:
                table.add_row(*(escape(v) for v in r.values()))
            console.print(table)
    for note in summary.get("notes", []):
        print(f"note: {note}")
    print(verdict_line(summary))


# ----------------------------------------------------------------------------- helpers
def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _jsonable(value: Any) -> Any:
    from sweep.space import _jsonable as j

    return j(value)


__all__ = ["Calibration", "Level", "analyze", "calibrate", "launch_warning", "load_calibration",
           "report_section"]  # fmt: skip
