"""Search-space files: YAML, validated before anything runs, errors with file, line and key path.

A file describes one question about a generator's design space (see ``search_spaces/*.yaml``)::

    study: visualatom-freq           # name of the study
    question: Does a wider frequency band give better pre-training data?
    generator:
      name: visualatom
      params: {orbits: [1, 200]}     # fixed generator parameters (published defaults otherwise)
    search:                          # searched parameters (used by the sweep engine)
      freq: {type: int_range, low: 0, high: 20, targets: [freq1, freq2]}
    proxy:
      task: vit                      # a proxy task (proxy_tasks.PROXY_TASKS)
      profile: auto                  # auto | cpu | gpu
      recipe: {}                     # overrides of the profile's preset
    profiles:                        # per-profile overrides, chosen by --profile or the device
      cpu: {recipe: {pretrain_epochs: 8}}
      gpu: {generator: {orbits: [1, 200]}}
    seeds: [0]                       # replicates (training and data seeds)

Keys owned by the sweep engine (``storage``, ``objectives``, ``sampler``, ``pruner``,
``budget``, ``backend``, a profile's ``budget``, a search entry's ``min_width``) are accepted
here and validated by :func:`sweep.space.load_study_config`, which documents them. A key
written twice in one mapping is an error (YAML would silently keep the last one).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sweep.errors import SweepError, did_you_mean

TOP_KEYS = ("study", "question", "generator", "search", "proxy", "profiles", "seeds",
            "calibration",  # sweep calibrate (sweep/calibrate.py)
            "data_seed", "storage", "objectives", "sampler", "pruner", "budget",
            "backend")  # fmt: skip
GENERATOR_KEYS = ("name", "params")
PROXY_KEYS = ("task", "profile", "recipe", "roots")
PROFILE_KEYS = ("generator", "recipe", "budget")
SEARCH_KEYS = ("type", "low", "high", "log", "choices", "targets", "step", "min_width")


@dataclass
class Config:
    """A loaded search-space file: plain data plus the line of every key path."""

    path: Path
    data: dict[str, Any]
    lines: dict[tuple, int] = field(default_factory=dict)

    def where(self, *keys: Any) -> str:
        """``file:line: a.b.c`` for the deepest known prefix of ``keys``."""
        line = None
        for n in range(len(keys), -1, -1):
            line = self.lines.get(tuple(keys[:n]))
            if line is not None:
                break
        dotted = ".".join(str(k) for k in keys)
        return f"{self.path}:{line or 1}: {dotted}" if dotted else f"{self.path}:{line or 1}"

    def error(self, keys: tuple, message: str) -> SweepError:
        return SweepError(f"{self.where(*keys)}: {message}")


def load_config(path: str | Path) -> Config:
    """Parse and check the structure of a search-space file (generator and recipe values are
    checked when a trial spec is built from it)."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise SweepError(f"{path}: no such file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        why = "not UTF-8 text" if isinstance(e, UnicodeDecodeError) else e.strerror or str(e)
        raise SweepError(f"{path}:1: cannot read the file: {why}") from None
    try:
        node = yaml.compose(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise SweepError(f"{path}:{line}: invalid YAML: {problem}") from None
    if node is None:
        raise SweepError(f"{path}:1: the file is empty; see search_spaces/ for examples")
    lines: dict[tuple, int] = {}
    duplicates: list[tuple[tuple, int, int]] = []
    data = _to_python(node, (), lines, duplicates)
    if duplicates:
        keys, first, line = duplicates[0]
        dotted = ".".join(str(k) for k in keys)
        raise SweepError(f"{path}:{line}: {dotted}: duplicate key (first written at line "
                         f"{first}); YAML would keep only the last one: remove or rename "
                         "one")  # fmt: skip
    cfg = Config(path, data, lines)
    _check_structure(cfg)
    return cfg


def _to_python(node, keys: tuple, lines: dict, duplicates: list | None = None) -> Any:
    import yaml

    lines.setdefault(keys, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out = {}
        for k, v in node.value:
            key = k.value
            if key in out and duplicates is not None:
                duplicates.append(((*keys, key), lines[(*keys, key)], k.start_mark.line + 1))
            lines[(*keys, key)] = k.start_mark.line + 1
            out[key] = _to_python(v, (*keys, key), lines, duplicates)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_to_python(v, (*keys, i), lines, duplicates) for i, v in enumerate(node.value)]
    return yaml.safe_load(yaml.serialize(node))


def _check_keys(cfg: Config, keys: tuple, value: Any, allowed: tuple[str, ...]) -> None:
    if not isinstance(value, Mapping):
        raise cfg.error(keys, f"expected a mapping, got {type(value).__name__}")
    for k in value:
        if k not in allowed:
            raise cfg.error((*keys, k), f"unknown key{did_you_mean(str(k), allowed)}; "
                            f"valid: {', '.join(allowed)}")  # fmt: skip


def _check_structure(cfg: Config) -> None:
    d = cfg.data
    _check_keys(cfg, (), d, TOP_KEYS)
    if "generator" not in d:
        raise cfg.error((), "missing key 'generator' (with at least 'name')")
    _check_keys(cfg, ("generator",), d["generator"], GENERATOR_KEYS)
    if "name" not in d["generator"]:
        raise cfg.error(("generator",), "missing key 'name' (see 'sweep ls')")
    for block, allowed in (("proxy", PROXY_KEYS), ("profiles", None), ("search", None)):
        if block in d:
            if allowed:
                _check_keys(cfg, (block,), d[block], allowed)
            elif not isinstance(d[block], Mapping):
                raise cfg.error((block,), "expected a mapping")
    for name, prof in d.get("profiles", {}).items():
        if name not in ("cpu", "gpu"):
            hint = did_you_mean(name, ("cpu", "gpu"))
            raise cfg.error(("profiles", name), f"unknown profile{hint}; valid: cpu, gpu")
        _check_keys(cfg, ("profiles", name), prof, PROFILE_KEYS)
    for name, entry in d.get("search", {}).items():
        _check_keys(cfg, ("search", name), entry, SEARCH_KEYS)
    seeds = d.get("seeds", [0])
    if (
        not isinstance(seeds, list)
        or not seeds
        or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds)
    ):
        raise cfg.error(("seeds",), f"expected a list of non-negative integers, got {seeds!r}")


def profile_block(cfg: Config, profile: str) -> dict[str, Any]:
    return dict(cfg.data.get("profiles", {}).get(profile, {}))


def generator_overrides(cfg: Config, profile: str) -> dict[str, Any]:
    """Fixed generator parameters: the file's, then the profile's."""
    params = dict(cfg.data["generator"].get("params") or {})
    params.update(profile_block(cfg, profile).get("generator") or {})
    return params


def recipe_overrides(cfg: Config, profile: str) -> dict[str, Any]:
    rec = dict((cfg.data.get("proxy") or {}).get("recipe") or {})
    rec.update(profile_block(cfg, profile).get("recipe") or {})
    return rec


def split_overrides(
    generator: str, sets: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Route ``--set`` keys to the generator or the recipe.

    ``generator.X`` and ``recipe.X`` are explicit; a bare name goes to whichever of the two
    defines it (generator first).
    """
    import dataclasses

    from proxy_tasks.recipe import Recipe
    from sweep.generators import generator_class

    gen_names = set(generator_class(generator).param_names())
    rec_names = {f.name for f in dataclasses.fields(Recipe)}
    gen, rec = {}, {}
    for key, value in sets.items():
        prefix, _, name = key.rpartition(".")
        if prefix == "generator" or (not prefix and name in gen_names):
            gen[name] = value
        elif prefix == "recipe" or (not prefix and name in rec_names):
            rec[name] = value
        else:
            hint = did_you_mean(name, sorted(gen_names | rec_names))
            raise SweepError(f"--set {key}: not a parameter of generator '{generator}' nor a "
                             f"recipe field{hint}")  # fmt: skip
    return gen, rec
