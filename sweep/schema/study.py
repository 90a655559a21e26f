"""The study file as typed, frozen models: :class:`StudyFile` and its sections.

A study file (``search_spaces/*.yaml``) describes one question about a generator's design
space::

    study: visualatom-freq            # the study's name (default: the file name without .yaml)
    question: Does a wider frequency band give better pre-training data?
    smallest_effect: 1.0              # the smallest difference that matters (answer's units)
    generator: {name: visualatom, params: {orbits: [1, 200]}}   # fixed parameters
                                      # (a family study: generator.families.<name>)
    search:                           # the searched parameters (sweep.space)
      freq: {type: int_range, low: 0, high: 20, min_width: 1, targets: [freq1, freq2]}
    proxy: {task: vit, profile: auto, recipe: {}, roots: {}, options: {}}
    profiles:                         # per-profile overrides (cpu: laptops; gpu: CUDA)
      cpu: {recipe: {pretrain_epochs: 8}, generator: {}, budget: {trials: 16}}
    seeds: [0]                        # replicates: every configuration runs once per seed
    data_seed: null                   # fix the synthetic dataset's seed across replicates
    storage: runs/studies.db          # sweep.storage
    objectives: [{headline: maximize}]
    sampler: tpe                      # or {name: tpe, options: {...}} (sweep.samplers)
    pruner: none
    budget: {trials: 20, workers: 1, timeout_s: null, max_failed: 5}
    backend: local                    # or ray, or {name: ray, ...}
    calibration: {...}                # sweep calibrate (sweep.schema.calibration)
    references: {narrow: {freq: [0, 3]}}   # further configurations evaluated next to the search
    confirm: {top: 2, seeds: 3, max_seeds: 24}  # or false: the confirmation after the search

This module checks each key's shape and type; what depends on other keys (a generator
parameter's domain, a searched range against its targets, sampler options against Optuna, the
storage URL) is the second pass, :func:`sweep.study_config.load_study_config`. Values the
second pass checks (the generator's parameters, a search entry's bounds) are kept as written.

Imports: the standard library, pydantic, :mod:`sweep.errors`, :mod:`sweep.record`,
:mod:`sweep.values`, :mod:`sweep.samplers` and :mod:`sweep.space` (names only), the registries
(:mod:`sweep.generators`, :mod:`proxy_tasks.spec`: names only; never a proxy task itself: see
the ``schema-*`` contracts in pyproject.toml) and this package's ``base``, ``errors``,
``yamlfile``, ``recipe``, ``engine``, ``calibration``.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, Field, PrivateAttr, WithJsonSchema, field_validator

from proxy_tasks.spec import PROXY_TASKS
from sweep.errors import did_you_mean, unknown
from sweep.generators import GENERATORS
from sweep.paired import DEFAULT_SMALLEST_EFFECT
from sweep.record import HEADLINE, STUDY_NAME_RE, study_name_problem
from sweep.samplers import PRUNERS, SAMPLERS
from sweep.schema.base import NUMBER_SCHEMA, Direction, Section, mapping_or_empty
from sweep.schema.calibration import CalibrationSection
from sweep.schema.engine import (
    BackendName,
    BackendSection,
    Budget,
    ConfirmSection,
    Objective,
    PrunerChoice,
    PrunerName,
    SamplerChoice,
    SamplerName,
    read_backend,
    read_choice,
    read_confirm,
    read_objectives,
)
from sweep.schema.errors import Invalid, SchemaError
from sweep.schema.recipe import RecipeOverrides
from sweep.schema.yamlfile import Source
from sweep.space import PARAM_TYPES
from sweep.values import is_int, is_real

Params = Annotated[dict[str, Any], BeforeValidator(mapping_or_empty)]
Number = Annotated[Any, WithJsonSchema(NUMBER_SCHEMA)]
NAMES_SCHEMA = {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
OPTIONS_SCHEMA = {"type": "object"}
REFERENCES_SCHEMA = {"type": "object", "additionalProperties": {"type": "object"}}


def _enum(names: list[str]) -> dict[str, Any]:
    return {"enum": names}


class GeneratorSection(Section):
    """The generator (``sweep ls``) and its fixed parameters (published defaults otherwise)."""

    required: ClassVar[dict[str, str]] = {"name": "missing key 'name' (see 'sweep ls')"}

    name: str = Field(json_schema_extra=_enum(GENERATORS.names()))
    """a registered generator"""
    params: Params = Field(default_factory=dict)
    """fixed generator parameters, ranges as [min, max] (sweep ls NAME lists them)"""
    families: Annotated[
        dict[str, Params],
        BeforeValidator(lambda v: _families(v)),
        WithJsonSchema({"type": "object", "additionalProperties": {"type": "object"}}),
    ] = Field(default_factory=dict)
    """a study that searches the generator (targets: [generator]): fixed parameters per
    searched family, {family: {param: value}} (a family not listed: its published values)"""

    @field_validator("name", mode="before")
    @classmethod
    def _registered(cls, v: Any) -> str:
        if not isinstance(v, str) or v not in GENERATORS:
            raise Invalid(str(unknown("generator", str(v), GENERATORS.names())))
        return v


def _families(v: Any) -> dict[str, Any]:
    v = mapping_or_empty(v)
    for name, params in v.items():
        if not isinstance(name, str) or name not in GENERATORS:
            raise Invalid(str(unknown("generator", str(name), GENERATORS.names())), (name,))
        if params is not None and not isinstance(params, dict):
            raise Invalid(
                f"expected a mapping of parameter to value, got {params!r}", (name,), "type"
            )
    return {k: dict(p or {}) for k, p in v.items()}


class SearchEntry(Section):
    """One searched parameter. Its bounds are checked against its targets' own checks (the
    generator's domains, the recipe's fields) by :mod:`sweep.schema.search`."""

    type: Annotated[Any, WithJsonSchema({"enum": list(PARAM_TYPES)})] = None
    """int, float, categorical, int_range or float_range (default: the first target's type)"""
    low: Number = None
    """lower bound, inclusive (int types: an integer)"""
    high: Number = None
    """upper bound, inclusive"""
    log: Annotated[Any, WithJsonSchema({"type": "boolean"})] = None
    """log-uniform (low > 0; no step)"""
    choices: Annotated[Any, WithJsonSchema({"type": "array"})] = None
    """categorical: the values (numbers, strings, true/false, null, [min, max] pairs)"""
    targets: Annotated[Any, WithJsonSchema(NAMES_SCHEMA)] = None
    """generator parameters it sets (default: [its name]); recipe.<field> sets a recipe field;
    [generator] searches the generator itself (categorical: choices are generator names)"""
    step: Number = None
    """a grid step (int default 1; a float needs one for the grid sampler)"""
    min_width: Number = None
    """ranges only: max - min >= min_width (default 0)"""


class ProxySection(Section):
    """The proxy task a trial runs, its profile and its recipe."""

    task: str = Field(default="vit", json_schema_extra=_enum(PROXY_TASKS.names()))
    """a proxy task (sweep ls tasks)"""
    profile: Literal["auto", "cpu", "gpu"] = "auto"
    """auto (gpu with CUDA, else cpu), cpu or gpu; --profile overrides it"""
    recipe: RecipeOverrides = Field(default_factory=RecipeOverrides)
    """overrides of the profile's recipe preset"""
    roots: Annotated[dict[str, str], BeforeValidator(mapping_or_empty)] = Field(
        default_factory=dict
    )
    """local directories of downstream datasets, by name"""
    options: Annotated[dict[str, Any], WithJsonSchema(OPTIONS_SCHEMA)] = Field(
        default_factory=dict
    )
    """options of the proxy task, passed to it as they are (analytic: noise, effect, optimum)"""

    @field_validator("task", mode="before")
    @classmethod
    def _task(cls, v: Any) -> str:
        if not isinstance(v, str) or v not in PROXY_TASKS:
            names = PROXY_TASKS.names()
            raise Invalid(
                f"unknown proxy task {v!r}{did_you_mean(str(v), names)}; choose one "
                f"of: {', '.join(names)}"
            )
        return v

    @field_validator("profile", mode="before")
    @classmethod
    def _profile(cls, v: Any) -> str:
        if v not in ("auto", "cpu", "gpu"):
            hint = did_you_mean(str(v), ("auto", "cpu", "gpu"))
            raise Invalid(f"unknown profile {v!r}{hint}; use auto, cpu or gpu")
        return v

    @field_validator("recipe", mode="before")
    @classmethod
    def _recipe(cls, v: Any) -> Any:
        return {} if v is None else v

    @field_validator("options", mode="before")
    @classmethod
    def _options(cls, v: Any) -> Any:
        v = {} if v is None else v
        if not isinstance(v, dict):
            raise Invalid("expected a mapping of option name to value", kind="type")
        for k, value in v.items():
            if not isinstance(k, str) or not _plain(value):
                raise Invalid(
                    f"expected plain data (numbers, strings, booleans, lists, "
                    f"mappings), got {value!r}",
                    (k,),
                    "type",
                )
        return v

    @field_validator("roots", mode="before")
    @classmethod
    def _roots(cls, v: Any) -> Any:
        v = {} if v is None else v
        if not isinstance(v, dict) or not all(
            isinstance(k, str) and isinstance(d, str) for k, d in v.items()
        ):
            raise Invalid("expected a mapping of dataset name to directory", kind="type")
        return v


class ProfileSection(Section):
    """Overrides for one profile."""

    generator: Params = Field(default_factory=dict)
    """fixed generator parameters of this profile (over generator.params)"""
    recipe: RecipeOverrides = Field(default_factory=RecipeOverrides)
    """recipe overrides of this profile (over proxy.recipe)"""
    budget: Budget | None = None
    """this profile's budget (keys not written: the file's budget)"""

    @field_validator("recipe", mode="before")
    @classmethod
    def _recipe(cls, v: Any) -> Any:
        return {} if v is None else v


class Profiles(Section):
    """Per-profile overrides, chosen by --profile or the device."""

    unknown_noun = "profile"

    cpu: ProfileSection | None = None
    """laptops and CI: the cpu recipe preset"""
    gpu: ProfileSection | None = None
    """one CUDA device: the gpu recipe preset"""

    @classmethod
    def not_mapping(cls, value: Any) -> str:
        return "expected a mapping"

    @field_validator("cpu", "gpu", mode="before")
    @classmethod
    def _block(cls, v: Any) -> Any:
        if v is None:
            raise Invalid(ProfileSection.not_mapping(v), kind="type")
        return v


def _plain(v: Any) -> bool:
    """JSON data: scalars, lists and string-keyed mappings of them."""
    if isinstance(v, list):
        return all(map(_plain, v))
    if isinstance(v, dict):
        return all(isinstance(k, str) and _plain(x) for k, x in v.items())
    return v is None or isinstance(v, bool | int | float | str)


def _references(v: Any) -> dict[str, dict[str, Any]]:
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise Invalid("expected a mapping of reference name to {param: value, ...}", kind="type")
    for name, entry in v.items():
        if not isinstance(name, str) or not STUDY_NAME_RE.match(name):
            raise Invalid(
                f"a reference name is letters, digits, '.', '_' or '-', got {name!r}", (name,)
            )
        if not isinstance(entry, dict) or not entry:
            raise Invalid(
                f"expected {{param: value, ...}} for every searched parameter, got {entry!r}",
                (name,),
                "type",
            )
    return v


def _confirm(v: Any) -> Any:
    return read_confirm(v)


#: the largest seed a study file may name (numpy's and torch's seeds are 64-bit)
MAX_SEED = 2**63 - 1


def _seeds(v: Any) -> tuple[int, ...]:
    if not isinstance(v, list | tuple) or not v or not all(is_int(s) and s >= 0 for s in v):
        raise Invalid(f"expected a list of non-negative integers, got {v!r}", kind="type")
    if any(s > MAX_SEED for s in v):
        raise Invalid(f"a seed is at most 2**63 - 1, got {max(v)}")
    if len(set(v)) != len(v):
        twice = next(s for s in v if v.count(s) > 1)
        raise Invalid(f"seed {twice} is listed twice: each seed is one replicate; remove one")
    return tuple(v)


def _sampler(v: Any) -> dict[str, Any]:
    return read_choice(v, "sampler", SAMPLERS)


def _pruner(v: Any) -> dict[str, Any]:
    return read_choice(v, "pruner", PRUNERS)


def _search(v: Any) -> Any:
    if not isinstance(v, dict):
        raise Invalid("expected a mapping", kind="type")
    return v


class StudyFile(Section):
    """A study file: one question about a generator's design space (see search_spaces/)."""

    required: ClassVar[dict[str, str]] = {
        "generator": "missing key 'generator' (with at least 'name')"
    }

    study: str | None = None
    """the study's name: letters, digits, '.', '_' and '-' (default: the file name)"""
    question: str | None = None
    """the question the study answers, in a sentence"""
    smallest_effect: Annotated[
        float, WithJsonSchema({"type": "number", "exclusiveMinimum": 0})
    ] = DEFAULT_SMALLEST_EFFECT
    """the smallest difference of the first objective that matters, in its units (default 1
    point): the answer decides a difference, equivalence or a negligible difference at it"""
    generator: GeneratorSection
    """the generator and its fixed parameters"""
    search: Annotated[dict[str, SearchEntry], BeforeValidator(_search)] = Field(
        default_factory=dict
    )
    """the searched parameters, by name (Optuna's parameter names)"""
    proxy: ProxySection = Field(default_factory=ProxySection)
    """the proxy task each trial runs"""
    profiles: Profiles = Field(default_factory=Profiles)
    """per-profile overrides (cpu, gpu)"""
    seeds: Annotated[
        tuple[int, ...], BeforeValidator(_seeds, json_schema_input_type=list[int])
    ] = (0,)
    """replicates: every configuration runs once per seed (training and data seeds)"""
    calibration: CalibrationSection | None = None
    """sweep calibrate: how far to trust the cheap proxy"""
    references: Annotated[
        dict[str, dict[str, Any]],
        BeforeValidator(_references),
        WithJsonSchema(REFERENCES_SCHEMA),
    ] = Field(default_factory=dict)
    """further configurations evaluated next to the search, by name: {param: value, ...} for
    every searched parameter (ranges as [min, max]); each one trial of the budget"""
    confirm: Annotated[
        ConfirmSection | None,
        BeforeValidator(_confirm, json_schema_input_type=bool | ConfirmSection),
    ] = ConfirmSection()
    """the confirmation after the search: false, true or {top: 2, seeds: 3, max_seeds: 24}
    (default: on when the budget is at least its first round; written: on whatever the
    budget)"""
    data_seed: int | None = None
    """fix the synthetic dataset's seed across replicates (null: each replicate's seed)"""
    storage: Annotated[Any, WithJsonSchema({"type": "string"})] = None
    """a URL (sqlite:///x.db, postgresql+psycopg://user@host/db, journal:///x.log) or a path
    (*.db, *.log); default runs/studies.db"""
    objectives: Annotated[
        tuple[Objective, ...],
        BeforeValidator(
            read_objectives,
            json_schema_input_type=list[Objective | dict[str, Direction]] | dict[str, Direction],
        ),
    ] = (Objective(metric=HEADLINE, direction="maximize"),)
    """metrics to optimise, in order: - headline: maximize (short form) or {metric, direction}"""
    sampler: Annotated[
        SamplerChoice,
        BeforeValidator(_sampler, json_schema_input_type=SamplerName | SamplerChoice),
    ] = SamplerChoice(name="tpe")
    """the Optuna sampler: NAME or {name: NAME, options: {...}}"""
    pruner: Annotated[
        PrunerChoice,
        BeforeValidator(_pruner, json_schema_input_type=PrunerName | PrunerChoice),
    ] = PrunerChoice(name="none")
    """the Optuna pruner: NAME or {name: NAME, options: {...}}"""
    budget: Budget | None = None
    """trials, workers, per-trial timeout, failures before stopping"""
    backend: Annotated[
        BackendSection,
        BeforeValidator(read_backend, json_schema_input_type=BackendName | BackendSection),
    ] = BackendSection()
    """where trials run: local, ray or {name: ray, address, resources, scheduler}"""

    _source: Source | None = PrivateAttr(None)

    @property
    def source(self) -> Source:
        """The file it was read from and the line of every key path."""
        if self._source is None:
            raise RuntimeError("a StudyFile built in Python has no source file")
        return self._source

    def error(self, keys: tuple, message: str, kind: str = "value") -> SchemaError:
        """A :class:`SchemaError` about ``keys`` of this file."""
        return self.source.error(keys, message, kind)

    @field_validator("study", mode="before")
    @classmethod
    def _study(cls, v: Any) -> Any:
        if (why := study_name_problem(v)) is not None:
            raise Invalid(why)
        return v

    @field_validator("question", mode="before")
    @classmethod
    def _question(cls, v: Any) -> Any:
        if v is not None and not isinstance(v, str):
            raise Invalid(f"expected a sentence (a string), got {v!r}", kind="type")
        return v

    @field_validator("smallest_effect", mode="before")
    @classmethod
    def _smallest_effect(cls, v: Any) -> Any:
        import math

        if not is_real(v) or not math.isfinite(v) or v <= 0:
            raise Invalid(
                f"expected a positive number (in the first objective's units), got {v!r}",
                kind="type",
            )
        return float(v)

    @field_validator("data_seed", mode="before")
    @classmethod
    def _data_seed(cls, v: Any) -> Any:
        if v is not None and not (is_int(v) and v >= 0):
            raise Invalid(f"expected a non-negative integer or null, got {v!r}", kind="type")
        if v is not None and v > MAX_SEED:
            raise Invalid(f"a seed is at most 2**63 - 1, got {v}")
        return v

    # ------------------------------------------------------------------ per profile
    def profile(self, profile: str) -> ProfileSection:
        """The block of ``profiles.<profile>`` (empty when the file has none)."""
        return getattr(self.profiles, profile, None) or ProfileSection()

    def generator_overrides(self, profile: str) -> dict[str, Any]:
        """Fixed generator parameters: the file's, then the profile's (as written)."""
        return {**self.generator.params, **self.profile(profile).generator}

    def recipe_overrides(self, profile: str) -> dict[str, Any]:
        """Recipe overrides: ``proxy.recipe``, then the profile's (as written)."""
        return {**self.proxy.recipe.written(), **self.profile(profile).recipe.written()}

    def budget_for(self, profile: str) -> Budget:
        """The file's budget with the profile's ``budget`` keys applied."""
        base = self.budget or Budget()
        block = self.profile(profile).budget
        return block.over(base) if block is not None else base
