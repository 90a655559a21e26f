"""What a trial is (:class:`TrialSpec`), what it returns (:class:`TrialResult`), what a proxy
task is (:class:`ProxyTask`), and the registry of the tasks (``PROXY_TASKS``, also
``proxy_tasks.PROXY_TASKS``): names -> classes following the protocol, imported on lookup, so the
study file's schema (a lower layer) checks a task's name without importing a task.

Imports: the standard library and :mod:`sweep.registry` (the tasks lazily, by name).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from sweep.errors import SweepError
from sweep.registry import Registry

#: status values of a finished trial
COMPLETE, FAILED, PRUNED = "complete", "failed", "pruned"


@dataclass(frozen=True)
class TrialSpec:
    """One trial: a generator configuration, a proxy recipe and the seeds. JSON-serialisable.

    ``data_seed`` draws the synthetic dataset; ``train_seed`` draws model initialisation, data
    order, augmentation and fine-tuning. They are separate so a study can tell the variance of the
    generator's draw from the variance of training.
    """

    generator: str = "visualatom"
    params: Mapping[str, Any] = field(default_factory=dict)
    task: str = "vit"
    profile: str = "auto"  # auto: gpu when CUDA is available, else cpu
    recipe: Mapping[str, Any] = field(default_factory=dict)  # overrides of the preset
    data_seed: int = 0
    train_seed: int = 0
    device: str = "auto"
    cache_dir: str | None = "runs/cache"  # scratch baselines; None disables the cache
    roots: Mapping[str, str] = field(default_factory=dict)  # downstream name -> local root
    download: bool = False  # let torchvision download missing downstream data
    options: Mapping[str, Any] = field(default_factory=dict)  # the proxy task's own options


@dataclass
class TrialResult:
    """The outcome of a trial. ``status`` tells failed from pruned; ``metrics`` is flat."""

    status: str
    metrics: dict[str, Any] = field(default_factory=dict)
    error_type: str | None = None  # diverged | out_of_memory | data | config | error
    message: str | None = None
    info: dict[str, Any] = field(default_factory=dict)  # resolved recipe, seeds, device, timings

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status}
        if self.error_type:
            out["error_type"] = self.error_type
            out["message"] = self.message
        out["metrics"] = self.metrics
        out["info"] = self.info
        return out


#: a trial's progress callback: ``report(name, step, value)``; raising :class:`Pruned` (or
#: optuna's TrialPruned) in it stops the trial as ``pruned``. Besides metrics (``pretrain_loss``
#: at each epoch), a task may announce its phases: ``report("phase/<name>", step, total)`` when
#: it enters step ``step`` of ``total`` of phase ``<name>`` (PHASE_PREFIX), which a callback may
#: ignore; they are never pruned on.
Report = Callable[[str, int, float], None]
PHASE_PREFIX = "phase/"


@runtime_checkable
class ProxyTask(Protocol):
    """A proxy task: ``name`` and ``run(spec, report) -> TrialResult``.

    ``run`` never raises for a bad configuration, a failed run or a prune: it returns a
    :class:`TrialResult` whose ``status`` is :data:`COMPLETE` (``metrics`` flat, numeric, with a
    ``headline``), :data:`FAILED` (with ``error_type`` and ``message``) or :data:`PRUNED` (when
    ``report`` raised :class:`Pruned`). ``report``, when given, is called at least once (the
    ViT task: once per pre-training epoch), so any trial can be pruned. Registered in
    ``proxy_tasks.PROXY_TASKS`` as a class constructed without arguments.
    """

    name: str

    def run(self, spec: TrialSpec, report: Report | None = None) -> TrialResult: ...


PROXY_TASKS: Registry[type] = Registry("proxy task")
PROXY_TASKS.register("vit", "proxy_tasks.vit:ViTProxy")
PROXY_TASKS.register("analytic", "proxy_tasks.analytic:AnalyticProxy")

#: each task's check of its ``options`` (a light module: ``sweep validate`` and ``sweep launch``
#: call it before anything is written, without importing torch): raises a ``SweepError`` whose
#: ``key`` is ``options.<name>``
TASK_OPTIONS: Registry[Any] = Registry("proxy task")
TASK_OPTIONS.register("vit", "proxy_tasks.spec:no_options")
TASK_OPTIONS.register("analytic", "proxy_tasks.analytic:parse_options")


#: each task's dataset: ``fn(spec, profile) -> DatasetSpec``, the images a trial pre-trains on
#: (the task renders it; ``sweep generate --from`` and the report's samples rebuild it through
#: :func:`sweep.trial.dataset_of`)
TASK_DATASETS: Registry[Any] = Registry("proxy task")
TASK_DATASETS.register("vit", "proxy_tasks.recipe:recipe_dataset")
TASK_DATASETS.register("analytic", "proxy_tasks.analytic:analytic_dataset")


def dataset_spec(spec: TrialSpec, profile: str | None = None) -> Any:
    """The :class:`sweep.dataset.DatasetSpec` trial ``spec`` pre-trains on, in ``profile``
    (default: the spec's own; a resolved one, ``cpu`` or ``gpu``)."""
    return TASK_DATASETS.get(spec.task)(spec, profile or spec.profile)


def no_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The check of a task without options (the ViT proxy: its recipe is ``proxy.recipe``)."""
    for name in options or {}:
        raise SweepError(
            "the vit task takes no options (its settings are proxy.recipe's keys)",
            key=f"options.{name}",
        )
    return {}


def spec_dict(spec: TrialSpec) -> dict[str, Any]:
    """The fields of ``spec`` that define a trial's result (not its cache, roots or download
    flag), JSON-ready: ``info["spec"]`` of a result."""
    return {
        "generator": spec.generator,
        "params": dict(spec.params),
        "task": spec.task,
        "profile": spec.profile,
        "recipe": dict(spec.recipe),
        "data_seed": spec.data_seed,
        "train_seed": spec.train_seed,
        "device": spec.device,
    }


class Pruned(Exception):
    """Raised by a report callback to stop a trial early (Optuna's TrialPruned works too)."""


def is_prune(exc: BaseException) -> bool:
    """Whether ``exc``, raised by a report callback, asks to prune the trial: :class:`Pruned`,
    or optuna's ``TrialPruned`` (recognised by name: optuna is not imported here)."""
    return isinstance(exc, Pruned) or type(exc).__name__ == "TrialPruned"


class Diverged(Exception):
    """The training loss became NaN or infinite."""
