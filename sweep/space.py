"""The searched parameters of a study and their Optuna distributions.

A study file's ``search:`` section (validated by :mod:`sweep.schema.search`) becomes a tuple of
:class:`ParamSpec`::

    search:
      freq:                           # a name (Optuna's parameter name)
        type: int_range               # int | float | categorical | int_range | float_range
                                      # (default: the type of the first target)
        low: 0                        # bounds, inclusive (int types: integers)
        high: 20
        log: false                    # log-uniform (low > 0; no step)
        step: 1                       # a grid step (int default 1; floats need one for grid)
        min_width: 1                  # ranges only: max - min >= min_width (default 0)
        targets: [freq1, freq2]       # generator parameters it sets (default: [its name]);
                                      # "recipe.<field>" sets a recipe field
      warp: {type: categorical, choices: [0.25, 0.5, 1.0], targets: [amplitude]}
      family: {type: categorical, choices: [visualatom, rcdb], targets: [generator]}

The reserved target ``generator`` (:data:`GENERATOR_TARGET`) searches the generator itself (a
family study): a categorical over registered generators, each at its published configuration
plus the file's ``generator.families.<name>`` fixed parameters. :func:`generator_of` turns a
trial's searched values into the ``(generator name, generator parameters)`` it runs.

Range pairs (``int_range``/``float_range``, for example VisualAtom's frequency band
``[n_min, n_max]``) are searched with a STATIC Optuna space that yields ``min <= max`` by
construction: ``<name>.min`` is drawn in ``[low, high - min_width]`` and ``<name>.span`` in
``[0, 1]``, and ``max = base + span * (high - base)`` with ``base = min + min_width`` (for
``log: true``: ``max = base * (high / base) ** span``), rounded to the integers or the step.
Every trial asks for the same distributions, so TPE, GP, CMA-ES, QMC and grid all model the
pair; no sample is rejected. (Drawing two values and sorting them is static too, but folds the
space in two, so model-based samplers see a symmetric, harder landscape.) ``min_width`` keeps out
degenerate bands a generator rejects (VisualAtom needs two distinct frequencies).

The functions take the resolved study (:class:`sweep.study_config.StudyConfig`) as any object
with its ``search``, ``generator_params``, ``recipe`` and ``error`` (:class:`Searched`).

Imports: the standard library, :mod:`sweep.errors`, :mod:`sweep.values`; Optuna lazily.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sweep.errors import SweepError
from sweep.values import is_primitive

PARAM_TYPES = ("int", "float", "categorical", "int_range", "float_range")
#: the reserved search target that searches the generator itself (a family study)
GENERATOR_TARGET = "generator"


@dataclass(frozen=True)
class ParamSpec:
    """One searched parameter (see the module docstring for the range construction)."""

    name: str
    type: str
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple | None = None
    targets: tuple[str, ...] = ()
    min_width: float = 0

    @property
    def is_range(self) -> bool:
        return self.type.endswith("_range")

    @property
    def is_int(self) -> bool:
        return self.type.startswith("int")

    @property
    def encoded(self) -> bool:
        """Categorical choices that Optuna cannot store (lists, mappings) go in as JSON text."""
        return any(not is_primitive(c) for c in self.choices or ())

    def optuna_choices(self) -> tuple:
        assert self.choices is not None
        if self.encoded:
            return tuple(json.dumps(c, sort_keys=True) for c in self.choices)
        return tuple(self.choices)

    def optuna_names(self) -> tuple[str, ...]:
        return (f"{self.name}.min", f"{self.name}.span") if self.is_range else (self.name,)

    def distributions(self) -> dict[str, Any]:
        """The Optuna distributions this parameter asks for (the same in every trial)."""
        from optuna.distributions import (
            CategoricalDistribution,
            FloatDistribution,
            IntDistribution,
        )

        if self.type == "categorical":
            return {self.name: CategoricalDistribution(self.optuna_choices())}
        assert self.low is not None and self.high is not None
        lo, hi = self.low, (self.high - self.min_width if self.is_range else self.high)
        first: IntDistribution | FloatDistribution
        if self.is_int:
            first = IntDistribution(int(lo), int(hi), log=self.log, step=int(self.step or 1))
        else:
            first = FloatDistribution(lo, hi, log=self.log, step=self.step)
        if not self.is_range:
            return {self.name: first}
        return {f"{self.name}.min": first, f"{self.name}.span": FloatDistribution(0.0, 1.0)}

    def value(self, raw: Mapping[str, Any]) -> Any:
        """The parameter's value from Optuna's raw values (``trial.params``): a number, a choice,
        or a ``[min, max]`` list."""
        if self.type == "categorical":
            v = raw[self.name]
            return json.loads(v) if self.encoded else v
        if not self.is_range:
            v = raw[self.name]
            return int(v) if self.is_int else float(v)
        lo = raw[f"{self.name}.min"]
        return [
            int(lo) if self.is_int else float(lo),
            self.range_max(lo, raw[f"{self.name}.span"]),
        ]

    def range_max(self, lo: float, span: float) -> int | float:
        assert self.high is not None
        hi, base = self.high, lo + self.min_width
        if base >= hi:
            v = hi
        elif self.log:
            v = base * (hi / base) ** span
        else:
            v = base + span * (hi - base)
        if self.step:
            v = base + round((v - base) / self.step) * self.step
        v = min(max(v, base), hi)
        if self.is_int:
            return round(v)
        return float(round(v, 12) if self.step else v)

    def grid(self) -> dict[str, list]:
        """Grid values for each Optuna name (the grid sampler); SweepError without a finite set.

        A range's ``.span`` gets as many points as the narrowest-based band has distinct maxima,
        so every pair is reached; pairs with a high ``min`` repeat (Optuna's grid sampler runs
        each grid point once, duplicates included)."""
        if self.type == "categorical":
            return {self.name: list(self.optuna_choices())}
        assert self.low is not None and self.high is not None
        hi = self.high - self.min_width if self.is_range else self.high
        first: list[int] | list[float]
        if self.is_int:
            first = list(range(int(self.low), int(hi) + 1, int(self.step or 1)))
        else:
            if not self.step:
                raise SweepError("needs a step")
            n = round((hi - self.low) / self.step)
            first = [round(self.low + i * self.step, 12) for i in range(n + 1)]
        if not self.is_range:
            return {self.name: first}
        n_span = max(1, round((self.high - self.low - self.min_width) / (self.step or 1)))
        spans = [i / n_span for i in range(n_span + 1)]
        return {f"{self.name}.min": first, f"{self.name}.span": spans}

    def as_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["choices"] = None if self.choices is None else list(self.choices)
        d["targets"] = list(self.targets)
        return d


class Searched(Protocol):
    """What the functions below need of a study: its searched parameters, its fixed values
    per profile, and errors located in its file."""

    @property
    def search(self) -> tuple[ParamSpec, ...]: ...

    @property
    def generator(self) -> str: ...

    def generator_params(self, profile: str) -> dict: ...

    def family_params(self, family: str, profile: str) -> dict: ...

    def recipe(self, profile: str) -> dict: ...

    def error(self, keys: tuple, message: str, kind: str = ...) -> SweepError: ...


# --------------------------------------------------------------------------------- trials
def suggest(trial, spec: Searched, *, profile: str | None = None) -> tuple[dict, dict, dict]:
    """Ask ``trial`` for every searched parameter.

    Returns ``(generator overrides, recipe overrides, values)``: the searched generator
    parameters (ranges as ``[min, max]`` lists), the searched recipe fields (without the
    ``recipe.`` prefix), and ``{param name: value}`` for user attributes. With ``profile``, the
    first two also hold the file's fixed values for that profile (searched values win).
    """
    for p in spec.search:
        for name, dist in p.distributions().items():
            _ask(trial, name, dist)
    return apply_values(spec, values_from_params(spec, trial.params), profile=profile)


def _ask(trial, name: str, dist) -> Any:
    from optuna.distributions import CategoricalDistribution, IntDistribution

    if isinstance(dist, CategoricalDistribution):
        return trial.suggest_categorical(name, dist.choices)
    if isinstance(dist, IntDistribution):
        return trial.suggest_int(name, dist.low, dist.high, step=dist.step, log=dist.log)
    return trial.suggest_float(name, dist.low, dist.high, step=dist.step, log=dist.log)


def values_from_params(spec: Searched, params: Mapping[str, Any]) -> dict[str, Any]:
    """``{param name: value}`` from Optuna's raw parameters (``FrozenTrial.params``)."""
    return {p.name: p.value(params) for p in spec.search}


def apply_values(
    spec: Searched, values: Mapping[str, Any], *, profile: str | None = None
) -> tuple[dict, dict, dict]:
    """Route searched values to their targets: ``(generator, recipe, values)`` as in suggest
    (a parameter missing from ``values`` is left out: its targets keep their fixed values).
    In a family study the generator parameters are those of the family in ``values`` (with
    ``profile``: its fixed ones, :meth:`Searched.family_params`); the family itself is not a
    generator parameter: :func:`generator_of` names it."""
    fam = family_param(spec)
    family = values.get(fam.name) if fam is not None else None
    if not profile:
        gen = {}
    elif family is not None:
        gen = spec.family_params(str(family), profile)
    else:
        gen = spec.generator_params(profile)
    rec = spec.recipe(profile) if profile else {}
    for p in spec.search:
        if p.name not in values:
            continue
        v = values[p.name]
        for t in p.targets:
            if t == GENERATOR_TARGET:
                continue
            if t.startswith("recipe."):
                rec[t[len("recipe.") :]] = list(v) if isinstance(v, list | tuple) else v
            else:
                gen[t] = list(v) if isinstance(v, list | tuple) else v
    return gen, rec, dict(values)


def family_param(spec: Searched) -> ParamSpec | None:
    """The searched parameter that picks the generator (target ``generator``), if any."""
    return next((p for p in spec.search if GENERATOR_TARGET in p.targets), None)


def generator_of(
    spec: Searched, values: Mapping[str, Any], profile: str
) -> tuple[str, dict[str, Any]]:
    """``(generator name, generator parameters)`` a trial with searched ``values`` runs in
    ``profile``: the searched family (else the file's generator), its fixed parameters for
    ``profile``, then the searched generator parameters."""
    fam = family_param(spec)
    name = spec.generator
    if fam is not None and fam.name in values:
        name = str(values[fam.name])
    gen, _, _ = apply_values(spec, values, profile=profile)
    return name, gen


def search_space(spec: Searched) -> dict[str, Any]:
    """The static Optuna search space: ``{optuna name: distribution}``."""
    out: dict[str, Any] = {}
    for p in spec.search:
        out.update(p.distributions())
    return out


def grid_space(spec: Searched) -> dict[str, list]:
    """The grid sampler's search space; SweepError (file, line) for a float without a step."""
    out: dict[str, list] = {}
    for p in spec.search:
        try:
            out.update(p.grid())
        except SweepError:
            hint = "log-scaled floats cannot have one" if p.log else "for example step: 0.1"
            raise spec.error(
                ("search", p.name),
                f"the grid sampler needs a finite set of values: "
                f"give this float parameter a step ({hint}), or use another "
                "sampler",
            ) from None
    return out


def grid_size(spec: Searched) -> int:
    """Number of points of the grid sampler's grid (duplicates of range pairs included)."""
    return math.prod(len(v) for v in grid_space(spec).values())
