"""The sections of a study file that say how the engine runs it: ``objectives``, ``sampler``,
``pruner``, ``budget`` (also ``profiles.<p>.budget``), ``backend`` and ``confirm``.

Each section is a frozen model; the short forms a file may use (``sampler: tpe``, ``backend:
ray``, ``- headline: maximize``) are read by ``read_*`` functions into the long form, with the
messages and key paths of the long form's mistakes. Sampler and pruner options are checked
against Optuna's signatures in the second pass (:func:`sweep.samplers.check_options`).

Imports: the standard library, pydantic, :mod:`sweep.errors`, :mod:`sweep.values`,
:mod:`sweep.samplers` and :mod:`sweep.backends` (the registries' names only),
:mod:`sweep.schema.base`, :mod:`sweep.schema.errors`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from pydantic import Field, field_validator

from sweep.backends import BACKENDS
from sweep.errors import did_you_mean
from sweep.limits import MAX_CONFIRM_SEEDS, MAX_CONFIRM_TOP, MAX_TRIALS, MAX_WORKERS
from sweep.samplers import PRUNERS, SAMPLERS
from sweep.schema.base import Direction, Section, direction, positive_int
from sweep.schema.errors import Invalid, unknown_key
from sweep.values import is_int, is_number, yaml_float

BLOCK_KEYS = ("name", "options")
#: Ray Tune scheduler name -> its options (sweep.engine.ray_scheduler.TuneSchedulerPruner)
SCHEDULERS: dict[str, tuple[str, ...]] = {
    "none": (),
    "asha": ("grace_period", "reduction_factor", "max_t"),
    "hyperband": ("grace_period", "reduction_factor", "max_t", "brackets"),
}
if TYPE_CHECKING:
    SamplerName: TypeAlias = str
    PrunerName: TypeAlias = str
    BackendName: TypeAlias = str
else:  # the registries' names as a Literal: an enum in the JSON Schema
    SamplerName = Literal[tuple(SAMPLERS)]
    PrunerName = Literal[tuple(PRUNERS)]
    BackendName = Literal[tuple(BACKENDS)]


# ----------------------------------------------------------------------------- objectives
class Objective(Section):
    """One objective: a metric the trials store and its direction."""

    metric: str
    """a metric of the proxy task (headline, time_total_s, finetune_mean, ...)"""
    direction: Direction
    """maximize or minimize"""


def read_objectives(raw: Any) -> tuple[Objective, ...]:
    """``[{headline: maximize}, {metric: m, direction: minimize}]`` or ``{m: d, ...}``."""
    if isinstance(raw, Mapping):  # {headline: maximize, time_total_s: minimize}
        items = [((m,), {m: d}) for m, d in raw.items()]
    elif isinstance(raw, list | tuple):
        items = [((i,), item) for i, item in enumerate(raw)]
    else:
        raise Invalid(
            "expected a list like [{headline: maximize}, {time_total_s: minimize}]", kind="type"
        )
    if not items:
        raise Invalid("empty: name at least one metric, e.g. - headline: maximize")
    out: list[Objective] = []
    mkeys: tuple
    dkeys: tuple
    for keys, item in items:
        if isinstance(item, Objective):
            out.append(item)
            continue
        if not isinstance(item, Mapping) or not item:
            raise Invalid(
                f"expected '- METRIC: maximize|minimize' or '- {{metric: METRIC, "
                f"direction: maximize}}', got {item!r}",
                keys,
                "type",
            )
        if "metric" in item or "direction" in item:
            for k in item:
                if k not in Objective.keys():
                    raise Invalid(Objective.unknown(str(k)), (*keys, k), "unknown_key")
            for k in Objective.keys():
                if k not in item:
                    raise Invalid(f"missing key '{k}'", keys, "missing")
            metric, dirn = item["metric"], item["direction"]
            mkeys, dkeys = (*keys, "metric"), (*keys, "direction")
        elif len(item) == 1:
            metric, dirn = next(iter(item.items()))
            mkeys = dkeys = (*keys, metric) if keys[-1] != metric else keys
        else:
            raise Invalid("one metric per list item: '- METRIC: maximize|minimize'", keys)
        if not isinstance(metric, str) or not metric.strip():
            raise Invalid(f"a metric name is a non-empty string, got {metric!r}", mkeys)
        try:
            direction(dirn)
        except Invalid as e:
            raise Invalid(e.message, dkeys) from None
        if metric in (o.metric for o in out):
            raise Invalid(f"metric '{metric}' is listed twice", mkeys)
        out.append(Objective(metric=metric, direction=dirn))
    return tuple(out)


# ----------------------------------------------------------------------------- sampler, pruner
class SamplerChoice(Section):
    """An Optuna sampler and the keyword arguments of its class."""

    name: SamplerName
    """the sampler (sweep ls samplers)"""
    options: dict[str, Any] = Field(default_factory=dict)
    """keyword arguments of the Optuna class (not seed: the engine seeds each worker)"""


class PrunerChoice(Section):
    """An Optuna pruner and the keyword arguments of its class (single objective only)."""

    name: PrunerName
    """the pruner"""
    options: dict[str, Any] = Field(default_factory=dict)
    """keyword arguments of the Optuna class"""


def read_block(raw: Any, names: Collection[str]) -> tuple[Any, dict[str, Any], tuple]:
    """``NAME`` or ``{name: NAME, options: {...}}``: the name, its options and the key path of
    the name (the block itself in the short form)."""
    if isinstance(raw, Section):
        return raw.name, dict(raw.options), ("name",)  # type: ignore[attr-defined]
    if isinstance(raw, str):
        return raw, {}, ()
    if not isinstance(raw, Mapping):
        raise Invalid(
            f"expected a name or {{name: ..., options: {{...}}}}, got {raw!r}", kind="type"
        )
    for k in raw:
        if k not in BLOCK_KEYS:
            raise Invalid(unknown_key(k, BLOCK_KEYS), (k,), "unknown_key")
    if "name" not in raw:
        raise Invalid(f"missing key 'name' (one of: {', '.join(names)})", kind="missing")
    options = raw.get("options") or {}
    if not isinstance(options, Mapping):
        raise Invalid("expected a mapping of options", ("options",), "type")
    return raw["name"], dict(options), ("name",)


def unknown_name(what: str, name: Any, names: Collection[str], at: tuple) -> Invalid:
    return Invalid(
        f"unknown {what} {name!r}{did_you_mean(str(name), names)}; choose one of: "
        f"{', '.join(names)}",
        at,
    )


def read_choice(raw: Any, what: str, names: Collection[str]) -> dict[str, Any]:
    """A sampler or pruner block as ``{"name": ..., "options": ...}``."""
    name, options, at = read_block(raw, names)
    if name not in names:
        raise unknown_name(what, name, names, at)
    return {"name": name, "options": options}


# ----------------------------------------------------------------------------- budget
_WHAT = {
    "trials": "trials to run",
    "workers": "worker processes",
    "max_failed": "failed trials before the study stops",
}


class Budget(Section):
    """How many trials, how many at a time, and when to stop. In ``profiles.<p>.budget`` the
    keys not written are the file's ``budget``."""

    trials: int = 20
    """trials to run (a replicate seed does not count as a trial)"""
    workers: int = 1
    """worker processes (or Ray actors): trials at a time"""
    timeout_s: float | None = None
    """seconds a trial may take before it fails (null: no limit)"""
    max_failed: int = 5
    """failed trials before the study stops"""

    @classmethod
    def not_mapping(cls, value: Any) -> str:
        return f"expected a mapping like {{trials: 20, workers: 1}}, got {value!r}"

    @field_validator("trials", "workers", "max_failed", mode="before")
    @classmethod
    def _count(cls, v: Any, info) -> int:
        n = positive_int(v, _WHAT[info.field_name])
        most = {"trials": MAX_TRIALS, "workers": MAX_WORKERS}.get(info.field_name)
        if most is not None and n > most:
            raise Invalid(f"{n:,} is more than {most:,} {info.field_name} (at most {most:,})")
        return n

    @field_validator("timeout_s", mode="before")
    @classmethod
    def _timeout(cls, v: Any) -> float | None:
        v = yaml_float(v)
        if v is not None and not (is_number(v) and v > 0):
            raise Invalid(f"expected a positive number of seconds or null, got {v!r}", kind="type")
        return None if v is None else float(v)

    def over(self, base: Budget) -> Budget:
        """``base`` with the keys this block wrote."""
        return base.model_copy(update=self.written())


# ----------------------------------------------------------------------------- backend
class Resources(Section):
    """What each trial holds on Ray (default: 1 CPU; 1 GPU in the gpu profile, none in cpu)."""

    unknown_noun = "resource"
    unknown_suffix = " (per trial)"

    cpus: float | None = None
    """CPUs per trial (> 0)"""
    gpus: float | None = None
    """GPUs per trial: a fraction below 1 packs trials on a GPU, above 1 a whole number"""

    @classmethod
    def not_mapping(cls, value: Any) -> str:
        return "expected a mapping like {cpus: 1, gpus: 0.5}"

    @field_validator("cpus", "gpus", mode="before")
    @classmethod
    def _amount(cls, v: Any, info) -> float | None:
        if v is None:
            return None
        v = yaml_float(v)
        cpus = info.field_name == "cpus"
        if not is_number(v) or v < 0 or (cpus and v == 0):
            what = "a positive number" if cpus else "a number >= 0"
            raise Invalid(f"expected {what} (per trial), got {v!r}", kind="type")
        if v > 1 and not float(v).is_integer():
            raise Invalid(f"Ray takes a fraction below 1 or a whole number, got {v!r}")
        return float(v)


class Scheduler(Section):
    """Ray Tune's early stopping of trials (AsyncHyperBandScheduler rungs), in epochs."""

    name: Literal[tuple(SCHEDULERS)] = "none"  # type: ignore[valid-type]
    """none, asha or hyperband"""
    options: dict[str, Any] = Field(default_factory=dict)
    """grace_period, reduction_factor, max_t (default: the preset's epochs), brackets"""


def read_scheduler(raw: Any) -> dict[str, Any]:
    """``asha`` or ``{name: hyperband, options: {...}}`` (``backend.scheduler``)."""
    name, options, at = read_block("none" if raw is None else raw, SCHEDULERS)
    if name == "pbt":
        raise Invalid(
            "pbt does not fit a proxy trial: it mutates hyperparameters of running "
            "trials from checkpoints, but a trial's generator parameters fix its "
            "dataset when it starts, and the Optuna sampler owns the parameters; use "
            "asha or hyperband",
            at,
        )
    if name not in SCHEDULERS:
        raise unknown_name("scheduler", name, SCHEDULERS, at)
    out: dict[str, Any] = {}
    for k, v in options.items():
        keys = ("options", k)
        if k not in SCHEDULERS[name]:
            valid = ", ".join(SCHEDULERS[name]) or "none"
            raise Invalid(
                f"not an option of scheduler '{name}'"
                f"{did_you_mean(str(k), SCHEDULERS[name])}; valid: {valid}",
                keys,
                "unknown_key",
            )
        v = yaml_float(v)
        if k == "reduction_factor":
            if not is_number(v) or v <= 1:
                raise Invalid(f"expected a number > 1, got {v!r}", keys, "type")
            out[k] = float(v)
        elif k == "max_t" and v is None:
            out[k] = None
        else:
            if not is_int(v) or v < 1:
                unit = "brackets" if k == "brackets" else "pre-training epochs"
                raise Invalid(f"expected a positive integer ({unit}), got {v!r}", keys, "type")
            out[k] = v
    if out.get("max_t") is not None and out.get("grace_period", 1) > out["max_t"]:
        raise Invalid(
            f"grace_period {out['grace_period']} > max_t {out['max_t']}",
            ("options", "grace_period"),
        )
    return {"name": name, "options": out}


class BackendSection(Section):
    """Where trials run: local worker processes, or Ray actors (``ray``) on a local Ray or the
    cluster at ``address``."""

    name: BackendName = "local"
    """local or ray"""
    address: str | None = None
    """a Ray cluster (auto, host:6379, ray://host:10001); null: a local Ray"""
    resources: Resources = Field(default_factory=Resources)
    """per trial"""
    scheduler: Scheduler = Field(default_factory=Scheduler)
    """Ray Tune's early stopping (needs one objective and pruner: none)"""


def read_backend(raw: Any) -> dict[str, Any]:
    """``local``, ``ray`` or ``{name: ray, address: ..., resources: {...}, scheduler: ...}``."""
    if isinstance(raw, Section):
        return raw.model_dump()
    name_at: tuple
    if isinstance(raw, str):
        raw, name_at = {"name": raw}, ()
    elif isinstance(raw, Mapping):
        for k in raw:
            if k not in BackendSection.keys():
                raise Invalid(BackendSection.unknown(str(k)), (k,), "unknown_key")
        if "name" not in raw:
            raise Invalid("missing key 'name' (local or ray)", kind="missing")
        name_at = ("name",)
    else:
        raise Invalid(
            f"expected local, ray or {{name: ray, address: ..., resources: {{cpus: 1, "
            f"gpus: 0}}, scheduler: asha}}, got {raw!r}",
            kind="type",
        )
    name = raw["name"]
    if name not in BACKENDS:
        raise Invalid(
            f"unknown backend {name!r}{did_you_mean(str(name), BACKENDS)}; choose one "
            f"of: {', '.join(BACKENDS)}",
            name_at,
        )
    if name == "local":
        for k in ("address", "resources", "scheduler"):
            if raw.get(k) is not None:
                raise Invalid(f"'{k}' applies to backend ray; write name: ray, or remove it", (k,))
        return {"name": "local"}
    address = raw.get("address")
    if address is not None and not (isinstance(address, str) and address.strip()):
        raise Invalid(
            f"expected a Ray address (auto, host:6379, ray://host:10001) or null for a "
            f"local Ray, got {address!r}",
            ("address",),
            "type",
        )
    try:
        scheduler = read_scheduler(raw.get("scheduler", "none"))
    except Invalid as e:
        raise Invalid(e.message, ("scheduler", *e.path), e.kind) from None
    return {
        "name": "ray",
        "address": address.strip() if address else None,
        "resources": raw.get("resources") or {},
        "scheduler": scheduler,
    }


# ----------------------------------------------------------------------------- confirm
_CONFIRM_WHAT = {
    "top": "configurations of the search to confirm",
    "seeds": "fresh seeds of the first round",
    "max_seeds": "fresh seeds at most",
}
CONFIRM_FORMS = "false, true or {top: 2, seeds: 3, max_seeds: 24}"


class ConfirmSection(Section):
    """The confirmation after the search: its best configurations and the published one,
    re-evaluated on fresh seeds common to all of them (sweep.engine.confirm)."""

    top: int = 2
    """the search's best configurations (distinct, by mean headline) re-evaluated (at most 16)"""
    seeds: int = 3
    """fresh paired seeds of the first round, the same for every configuration confirmed"""
    max_seeds: int = 24
    """paired seeds at most (the race's cost cap, at most 64): while the answer is undecided at
    the smallest effect, rounds double the seeds (3, 6, 12, 24)"""

    @classmethod
    def not_mapping(cls, value: Any) -> str:
        return f"expected {CONFIRM_FORMS}, got {value!r}"

    @field_validator("top", "seeds", "max_seeds", mode="before")
    @classmethod
    def _count(cls, v: Any, info) -> int:
        return positive_int(v, _CONFIRM_WHAT[info.field_name])

    @field_validator("top")
    @classmethod
    def _top(cls, v: int) -> int:
        if v > MAX_CONFIRM_TOP:
            raise Invalid(
                f"{v} candidates is more than {MAX_CONFIRM_TOP}; confirm fewer (each "
                "one costs max_seeds trials and widens every interval)"
            )
        return v

    @field_validator("seeds", "max_seeds")
    @classmethod
    def _cap(cls, v: int, info) -> int:
        if v > MAX_CONFIRM_SEEDS:
            raise Invalid(
                f"{v} is more than {MAX_CONFIRM_SEEDS} paired seeds per arm; lower it "
                "(or lower the noise: README, 'Deciding')"
            )
        seeds = info.data.get("seeds")
        if info.field_name == "max_seeds" and seeds is not None and v < seeds:
            raise Invalid(f"max_seeds {v} is below seeds {seeds}")
        return v


def read_confirm(raw: Any) -> Any:
    """``confirm: false`` (None: no confirmation), ``true`` (the defaults) or a mapping."""
    if raw is False:
        return None
    if raw is True:
        return {}
    if isinstance(raw, Section | Mapping):
        return raw
    raise Invalid(f"expected {CONFIRM_FORMS}, got {raw!r}", kind="type")
