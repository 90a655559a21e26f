"""The ``calibration:`` section of a study file, resolved per profile: :class:`Calibration`.

The section comes typed from the schema (:class:`sweep.schema.calibration.CalibrationSection`,
each key's shape checked); here each profile's keys are resolved against the search and the
recipe: the levels' recipes made and compared, the configurations drawn (or the list mapped to
the searched space), ``top_k`` against their number. Errors are one line
``file:line: calibration.key: message``.

Imports: the standard library, :mod:`proxy_tasks.recipe`, :mod:`sweep.errors`,
:mod:`sweep.values`, :mod:`sweep.record`, :mod:`sweep.devices`, :mod:`sweep.schema` (its
``calibration`` and ``errors``), and lazily :mod:`sweep.space`, :mod:`sweep.generators`,
:mod:`sweep.seeding` and scipy's QMC designs.
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from proxy_tasks.recipe import RecipeError
from sweep.devices import PROFILES
from sweep.errors import SweepError
from sweep.record import study_name_problem
from sweep.schema.calibration import MIN_CONFIGS, CalibrationSection, LevelSection, check_seeds
from sweep.schema.errors import Invalid, unknown_key
from sweep.values import is_int, jsonable


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
        return [
            (i, lv, s) for s in self.seeds for lv in self.levels for i in range(len(self.configs))
        ]

    def plan_hash(self, space_hash: str) -> str:
        """What the trials are: the search space, configurations, levels and seeds."""
        payload = {
            "space": space_hash,
            "configs": list(self.configs),
            "seeds": list(self.seeds),
            "levels": [[lv.name, dict(lv.recipe)] for lv in self.levels],
        }
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


# ----------------------------------------------------------------------------- the file
def load_calibration(spec, profile: str | None = None) -> dict[str, Calibration]:
    """The ``calibration:`` section of a loaded study file (:class:`sweep.study_config.
    StudyConfig`), resolved for every profile (or ``profile``); errors are one line
    ``file:line: calibration.key: message``."""
    section = spec.file.calibration
    if section is None:
        raise spec.error((), "no 'calibration:' section; see search_spaces/calibrate_freq.yaml")
    return {p: _parse_profile(spec, section, p) for p in ([profile] if profile else PROFILES)}


def _parse_profile(spec, section: CalibrationSection, prof: str) -> Calibration:
    def get(key: str) -> tuple[Any, tuple]:
        return section.setting(prof, key)

    study, at = get("study")
    if study is None:
        study = f"{spec.study}-calibration-{prof}"
    elif study_name_problem(study) is not None or study == spec.study:
        raise spec.error(
            at,
            f"expected a study name (letters, digits, '.', '_', '-') other "
            f"than the search's own '{spec.study}', got {study!r}",
        )
    seed, _ = get("seed")
    seeds, at = get("seeds")
    if seeds is None:
        try:
            seeds = check_seeds(list(spec.seeds) if len(spec.seeds) >= 2 else [0, 1, 2])
        except Invalid as e:
            raise spec.error(at, e.message) from None
    metric, direction = _parse_metric(spec, get)
    baselines, _ = get("baselines")
    levels = _parse_levels(spec, prof, *get("levels"))
    design, _ = get("design")
    n, n_at = get("configs")
    entries, list_at = get("list")
    if design == "list":
        configs, values = _parse_list(spec, prof, entries, list_at, levels)
        if n is not None and n != len(configs):
            raise spec.error(
                n_at,
                f"configs: {n} but the list has {len(configs)} entries; "
                "remove configs or make them agree",
            )
    else:
        if entries is not None:
            raise spec.error(list_at, f"a list applies to design: list, not {design}")
        configs, values = _draw(spec, prof, design, n or 12, seed, n_at, levels)
    top_k, at = get("top_k")
    if not is_int(top_k) or not 1 <= top_k < len(configs):
        raise spec.error(at, f"expected an integer in [1, {len(configs) - 1}], got {top_k!r}")
    threshold, _ = get("threshold")
    boot, _ = get("bootstrap")
    return Calibration(
        profile=prof,
        study=study,
        design=design,
        configs=tuple(configs),
        values=tuple(values),
        seeds=tuple(seeds),
        seed=seed,
        metric=metric,
        direction=direction,
        baselines=dict(baselines),
        top_k=top_k,
        threshold=float(threshold),
        bootstrap=boot,
        levels=tuple(levels),
    )


def _parse_metric(spec, get) -> tuple[str, str]:
    metric, _ = get("metric")
    objectives = dict(spec.objectives)
    if metric is None:
        metric = spec.objectives[0][0]
    direction, _ = get("direction")
    return metric, direction if direction is not None else objectives.get(metric, "maximize")


def _parse_levels(spec, prof: str, raw: list[LevelSection] | None, at: tuple) -> list[Level]:
    from proxy_tasks.recipe import as_dict, make_recipe
    from sweep.generators import generator_class

    if raw is None:
        raise spec.error(
            at,
            "expected a list of at least 2 levels, cheapest first, e.g. [{name: "
            "L1, recipe: {pretrain_epochs: 5}}, {name: L2, recipe: {}}]",
        )
    searched = {
        t[len("recipe.") :] for p in spec.search for t in p.targets if t.startswith("recipe.")
    }
    gen_cls = generator_class(spec.generator)
    levels: list[Level] = []
    resolved_seen: dict[str, str] = {}
    for i, entry in enumerate(raw):
        keys = (*at, i)
        recipe = entry.recipe.written()
        for field in recipe:
            if field in searched:
                raise spec.error(
                    (*keys, "recipe", field), f"recipe.{field} is searched; a level cannot fix it"
                )
        try:
            r = make_recipe(prof, {**spec.recipe(prof), **recipe})
        except RecipeError as e:
            where = (*keys, "recipe", e.field) if e.field in recipe else (*keys, "recipe")
            raise spec.error(where, f"{e} ({prof} profile)") from None
        try:
            gen_cls(spec.generator_params(prof), image_size=r.img_size)
        except SweepError as e:
            raise spec.error((*keys, "recipe"), f"{e} ({prof} profile)") from None
        resolved = as_dict(r)
        text = json.dumps(resolved, sort_keys=True)
        if text in resolved_seen:
            raise spec.error(
                keys,
                f"level '{entry.name}' resolves to the same recipe as level "
                f"'{resolved_seen[text]}' ({prof} profile)",
            )
        resolved_seen[text] = entry.name
        levels.append(Level(name=entry.name, recipe=jsonable(recipe), resolved=resolved))
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
            vals = jsonable(values_from_params(spec, params))
            key = json.dumps(vals, sort_keys=True)
            if key in seen:
                continue
            seen.add(key)
            why = _check_config(spec, prof, vals, levels)
            if why is not None:
                rejected = why
                continue
            configs.append(jsonable(params))
            values.append(vals)
            if len(configs) == n:
                return configs, values
    extra = f" (configurations rejected by the generator: {rejected})" if rejected else ""
    raise spec.error(
        at,
        f"the search space has only {len(configs)} distinct valid "
        f"configurations{extra}; ask for fewer or widen the search",
    )


def _parse_list(spec, prof, entries, at, levels) -> tuple[list[dict], list[dict]]:
    if not isinstance(entries, list) or len(entries) < MIN_CONFIGS:
        raise spec.error(
            at,
            f"design: list needs a list of at least {MIN_CONFIGS} "
            "configurations, each {param: value} for every searched parameter",
        )
    names = [p.name for p in spec.search]
    configs: list[dict] = []
    values: list[dict] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(entries):
        keys = (*at, i)
        if not isinstance(entry, Mapping):
            raise spec.error(keys, f"expected {{{', '.join(f'{n}: ...' for n in names)}}}")
        for k in entry:
            if k not in names:
                raise spec.error((*keys, k), unknown_key(k, names), "unknown_key")
        missing = [n for n in names if n not in entry]
        if missing:
            raise spec.error(keys, f"missing searched parameter(s) {', '.join(missing)}")
        params: dict[str, Any] = {}
        for p in spec.search:
            params.update(_to_raw(spec, (*keys, p.name), p, entry[p.name]))
        vals = jsonable({p.name: p.value(params) for p in spec.search})
        key = json.dumps(vals, sort_keys=True)
        if key in seen:
            raise spec.error(keys, f"the same configuration as list entry {seen[key]}")
        seen[key] = i
        why = _check_config(spec, prof, vals, levels)
        if why is not None:
            raise spec.error(keys, f"an invalid configuration ({prof} profile): {why}")
        configs.append(jsonable(params))
        values.append(vals)
    return configs, values


def _to_raw(spec, keys: tuple, p, value: Any) -> dict[str, Any]:
    """A searched value as Optuna raw parameters (:func:`sweep.study_config.to_raw`), its
    error located at the list entry's key."""
    from sweep.study_config import to_raw

    try:
        return to_raw(p, value)
    except SweepError as e:
        raise spec.error(keys, str(e)) from None
