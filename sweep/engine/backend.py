"""Backends: where a study's trials run. One small protocol, a registry of two entries.

A backend takes the launcher's :class:`Plan` and the open study and runs ``remaining`` trials on
``n_workers`` concurrent workers: it honours the concurrency, survives a worker's death (the
worker's trial is failed and retried once with the same parameters, a replacement takes its
ticket), stops starting trials once the study's stop flag is set (``sweep stop``, too many
failures) and passes Ctrl-C on to its workers. ``local`` runs worker processes on this machine
(:mod:`sweep.engine.local`), ``ray`` Ray actors on a local Ray or a cluster
(:mod:`sweep.engine.ray_backend`).

Imports: the standard library and :mod:`sweep.registry` (the backends lazily, by name).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from sweep.registry import Registry


@dataclass
class Plan:
    """What the workers need, picklable."""

    path: str
    storage: str
    study: str
    profile: str
    device: str
    cache_dir: str | None
    workers: int = 1
    #: ``search`` (the budget's trials) or ``confirm`` (a round of the confirmation's cells)
    phase: str = "search"
    #: the trials the study had when this launch began: worker ``i``'s sampler is seeded
    #: :func:`sampler_seed` of it, so a continued study does not replay its first suggestions
    trials_before: int = 0


def sampler_seed(plan: Plan, index: int) -> int:
    """The sampler seed of worker ``index``: ``1000 + index`` for a new study; shifted by the
    trials a continued one already has (distinct per worker and per launch)."""
    return 1000 + index + 7919 * plan.trials_before


class RunWorkers(Protocol):
    """A backend: run ``remaining`` trials of ``study`` on ``n_workers`` workers."""

    def __call__(
        self,
        plan: Plan,
        study: Any,
        remaining: int,
        n_workers: int,
        spec: Any,
        progress: bool,
        budget: int,
        max_failed: int,
    ) -> None: ...


BACKENDS: Registry[RunWorkers] = Registry("backend")
BACKENDS.register("local", "sweep.engine.local:run_workers")
BACKENDS.register("ray", "sweep.engine.ray_backend:run_workers")


def get_backend(name: str) -> RunWorkers:
    """The ``run_workers`` function of backend ``name`` (imported on first use)."""
    return BACKENDS.get(name)
