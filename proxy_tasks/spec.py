"""What a trial is (:class:`TrialSpec`) and what it returns (:class:`TrialResult`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

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


class Pruned(Exception):
    """Raised by a report callback to stop a trial early (Optuna's TrialPruned works too)."""


class Diverged(Exception):
    """The training loss became NaN or infinite."""
