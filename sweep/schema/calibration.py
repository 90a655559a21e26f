"""The ``calibration:`` section of a study file (``sweep calibrate``), as typed models.

:class:`CalibrationSection` holds the keys of every profile and ``profiles.cpu|gpu``
(:class:`CalibrationSettings`: any key but ``study``). Each key's shape is checked here; what
depends on the search and the recipe (a level's recipe resolved per profile, the designs drawn,
``top_k`` against the number of configurations, the calibration study's name against the
search's) is :func:`sweep.calibration.plan.load_calibration`'s.

Imports: the standard library, pydantic, :mod:`sweep.devices` (profile names),
:mod:`sweep.errors`, :mod:`sweep.record`, :mod:`sweep.values` and this package's ``base``,
``errors``, ``recipe``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, WithJsonSchema, field_validator

from sweep.devices import PROFILES
from sweep.errors import did_you_mean
from sweep.record import PRETRAIN_LOSS, STUDY_NAME_RE
from sweep.schema.base import DIRECTIONS, Direction, Section, direction
from sweep.schema.errors import Invalid
from sweep.schema.recipe import RecipeOverrides
from sweep.values import is_int, is_number

DESIGNS = ("sobol", "lhs", "list")
MIN_CONFIGS = 10
DEFAULT_BASELINES: dict[str, Direction] = {"scratch": "maximize", PRETRAIN_LOSS: "minimize"}


class LevelSection(Section):
    """One rung of the fidelity ladder: a name and the recipe overrides of the level."""

    required: ClassVar[dict[str, str]] = {
        "name": "a level needs a name of letters, digits, '.', '_' or '-', got None"
    }

    name: str
    """letters, digits, '.', '_' or '-'"""
    recipe: RecipeOverrides = Field(default_factory=RecipeOverrides)
    """overrides of the file's recipe for this level ({}: the file's recipe as it is)"""

    @classmethod
    def not_mapping(cls, value: Any) -> str:
        return "expected {name: NAME, recipe: {field: value, ...}}"

    @field_validator("name", mode="before")
    @classmethod
    def _name(cls, v: Any) -> Any:
        if not isinstance(v, str) or not STUDY_NAME_RE.match(v):
            raise Invalid(f"a level needs a name of letters, digits, '.', '_' or '-', got {v!r}")
        return v

    @field_validator("recipe", mode="before")
    @classmethod
    def _recipe(cls, v: Any) -> Any:
        if v is None:
            return {}
        if not isinstance(v, Mapping):
            raise Invalid("expected a mapping of recipe fields", kind="type")
        return v


def check_seeds(v: Any) -> Any:
    """Replicate seeds of a calibration: 2 or more distinct non-negative integers."""
    if (
        not isinstance(v, list)
        or len(v) < 2
        or len(set(map(str, v))) != len(v)
        or not all(is_int(s) and s >= 0 for s in v)
    ):
        raise Invalid(
            f"expected at least 2 distinct non-negative integers (replicates: the "
            f"noise ceiling needs two), got {v!r}"
        )
    return v


def _levels(v: Any) -> Any:
    if not isinstance(v, list) or len(v) < 2:
        raise Invalid(
            "expected a list of at least 2 levels, cheapest first, e.g. [{name: L1, "
            "recipe: {pretrain_epochs: 5}}, {name: L2, recipe: {}}]"
        )
    return v


class CalibrationSettings(Section):
    """The keys of the calibration section a profile may override (all but ``study``)."""

    design: Literal[DESIGNS] = "sobol"  # type: ignore[valid-type]
    """sobol | lhs (scrambled, seeded by seed, over the searched parameters' Optuna space) |
    list"""
    configs: int | None = None
    """configurations (at least 10; default 12; with design: list, the list's length)"""
    list_: Annotated[Any, WithJsonSchema({"type": "array", "items": {"type": "object"}})] = Field(
        None, alias="list"
    )
    """design: list: one {param: value} per configuration, every searched parameter"""
    seeds: list[int] | None = None
    """replicates of each (configuration, level): 2 or more distinct (default: the file's seeds
    if 2 or more, else [0, 1, 2])"""
    seed: int = 0
    """root seed of the design and of the bootstrap"""
    metric: str | None = None
    """the metric compared (default: the first objective)"""
    direction: Direction | None = None
    """maximize or minimize (default: the objective's, else maximize)"""
    baselines: dict[str, Direction] = Field(default_factory=lambda: dict(DEFAULT_BASELINES))
    """trivial predictors, {metric: direction}; none or {}: no baselines"""
    top_k: Annotated[Any, WithJsonSchema({"type": "integer"})] = 3
    """top-k recall, 1 <= k < configs"""
    threshold: float = 0.8
    """the verdict: the cheapest level with corrected rho >= threshold, in (0, 1]"""
    bootstrap: int = 2000
    """two-stage bootstrap replicates (>= 100)"""
    levels: Annotated[list[LevelSection] | None, Field(json_schema_extra={"minItems": 2})] = None
    """the fidelity ladder, 2 or more, cheapest first; the last is the target"""

    @classmethod
    def not_mapping(cls, value: Any) -> str:
        return "expected a mapping"

    @field_validator("design", mode="before")
    @classmethod
    def _design(cls, v: Any) -> Any:
        if v not in DESIGNS:
            raise Invalid(
                f"unknown design {v!r}{did_you_mean(str(v), DESIGNS)}; choose one of: "
                f"{', '.join(DESIGNS)}"
            )
        return v

    @field_validator("configs", mode="before")
    @classmethod
    def _configs(cls, v: Any) -> Any:
        if v is not None and (not is_int(v) or v < MIN_CONFIGS):
            raise Invalid(
                f"expected an integer >= {MIN_CONFIGS} (rank correlations over fewer "
                f"configurations are too noisy to act on), got {v!r}"
            )
        return v

    @field_validator("seeds", mode="before")
    @classmethod
    def _seeds(cls, v: Any) -> Any:
        return check_seeds(v)

    @field_validator("seed", mode="before")
    @classmethod
    def _seed(cls, v: Any) -> Any:
        if not is_int(v) or v < 0:
            raise Invalid(f"expected a non-negative integer, got {v!r}", kind="type")
        return v

    @field_validator("metric", mode="before")
    @classmethod
    def _metric(cls, v: Any) -> Any:
        if v is not None and (not isinstance(v, str) or not v.strip()):
            raise Invalid(
                f"expected a metric name (headline, finetune_mean, ...), got {v!r}", kind="type"
            )
        return v

    @field_validator("direction", mode="before")
    @classmethod
    def _direction(cls, v: Any) -> Any:
        return direction(v)

    @field_validator("baselines", mode="before")
    @classmethod
    def _baselines(cls, v: Any) -> Any:
        if v is None or v == "none":
            return {}
        if not isinstance(v, Mapping):
            raise Invalid(
                "expected {metric: maximize|minimize}, e.g. {scratch: maximize, "
                "pretrain_loss: minimize}",
                kind="type",
            )
        for name, d in v.items():
            if d not in DIRECTIONS:
                raise Invalid(f"expected maximize or minimize, got {d!r}", (name,))
        return {str(k): d for k, d in v.items()}

    @field_validator("threshold", mode="before")
    @classmethod
    def _threshold(cls, v: Any) -> Any:
        if not is_number(v) or not 0 < v <= 1:
            raise Invalid(f"expected a correlation in (0, 1], got {v!r}")
        return v

    @field_validator("bootstrap", mode="before")
    @classmethod
    def _bootstrap(cls, v: Any) -> Any:
        if not is_int(v) or v < 100:
            raise Invalid(f"expected an integer >= 100 (bootstrap replicates), got {v!r}")
        return v

    @field_validator("levels", mode="before")
    @classmethod
    def _levels_shape(cls, v: Any) -> Any:
        return _levels(v)

    @field_validator("levels", mode="after")
    @classmethod
    def _levels_distinct(cls, v: list[LevelSection]) -> list[LevelSection]:
        seen: set[str] = set()
        for i, level in enumerate(v):
            if level.name in seen:
                raise Invalid(f"level '{level.name}' is listed twice", (i, "name"))
            seen.add(level.name)
        return v


class CalibrationProfiles(Section):
    """Per-profile overrides of the calibration section."""

    unknown_noun = "profile"

    cpu: CalibrationSettings | None = None
    """the cpu profile's keys"""
    gpu: CalibrationSettings | None = None
    """the gpu profile's keys"""

    @classmethod
    def not_mapping(cls, value: Any) -> str:
        return "expected {cpu: {...}, gpu: {...}}"

    @field_validator("cpu", "gpu", mode="before")
    @classmethod
    def _block(cls, v: Any) -> Any:
        if not isinstance(v, Mapping):
            raise Invalid("expected a mapping", kind="type")
        return v


class CalibrationSection(CalibrationSettings):
    """sweep calibrate: configurations run at every level of a fidelity ladder with several
    seeds, to tell how well each cheap level ranks them like the most expensive one."""

    study: Annotated[Any, WithJsonSchema({"type": "string"})] = None
    """the calibration study (default <study>-calibration-<profile>; not the search's name)"""
    profiles: CalibrationProfiles = Field(default_factory=CalibrationProfiles)
    """per-profile overrides of any key but study"""

    @classmethod
    def not_mapping(cls, value: Any) -> str:
        return "expected a mapping (configs, seeds, levels, ...)"

    @field_validator("profiles", mode="before")
    @classmethod
    def _profiles(cls, v: Any) -> Any:
        return {} if v is None else v

    def setting(self, profile: str, key: str) -> tuple[Any, tuple]:
        """The value of ``key`` for ``profile`` (its override, else this section's, else the
        default; None: the plan decides) and the key path it was written at."""
        attr = "list_" if key == "list" else key
        block = getattr(self.profiles, profile, None) if profile in PROFILES else None
        if block is not None and attr in block.model_fields_set:
            return getattr(block, attr), ("calibration", "profiles", profile, key)
        return getattr(self, attr), ("calibration", key)
