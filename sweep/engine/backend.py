"""Backends: where a study's trials run. One small protocol; its two entries are registered in
:data:`sweep.backends.BACKENDS` (the one list of backend names).

A backend takes the launcher's :class:`Plan` and the open study and runs ``remaining`` trials on
``n_workers`` concurrent workers: it honours the concurrency, survives a worker's death (the
worker's trial is failed and retried once with the same parameters, a replacement takes its
ticket), stops starting trials once the study's stop flag is set (``sweep stop``, too many
failures) and passes Ctrl-C on to its workers. ``local`` runs worker processes on this machine
(:mod:`sweep.engine.local`), ``ray`` Ray actors on a local Ray or a cluster
(:mod:`sweep.engine.ray_backend`).

Imports: the standard library and :mod:`sweep.backends` (the backends lazily, by name;
:mod:`sweep.study_config` inside :func:`worker_config`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from sweep.backends import BACKENDS


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
    #: the launch's sampler and pruner (``StudyConfig.sampler``/``pruner``): with the study's
    #: snapshot, all a worker needs (:func:`sweep.study_config.snapshot_config`)
    sampler: dict = field(default_factory=dict)
    pruner: dict = field(default_factory=dict)


def worker_config(plan: Plan, storage: Any):
    """The config a worker runs (both backends): the study's stored snapshot, read from
    ``storage`` (an Optuna storage), with the launch's sampler and pruner; its search-space
    hash checked against the study's. Never the live file."""
    from sweep.study_config import snapshot_config

    attrs = storage.get_study_user_attrs(storage.get_study_id_from_name(plan.study))
    return snapshot_config(
        attrs,
        plan.study,
        plan.storage,
        profile=plan.profile,
        launch={"sampler": plan.sampler, "pruner": plan.pruner},
    )


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


def get_backend(name: str) -> RunWorkers:
    """The ``run_workers`` function of backend ``name`` (imported on first use)."""
    return BACKENDS.get(name)
