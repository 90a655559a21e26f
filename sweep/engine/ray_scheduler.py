"""Ray Tune's ASHA and HyperBand decisions as an Optuna pruner whose state is the study database
(``backend.scheduler``): :class:`TuneSchedulerPruner`, built for a study by
:func:`scheduler_pruner`; the Ray backend's workers use it instead of ``pruner``.

Imports: the standard library, numpy, Optuna and Ray Tune (lazily), :mod:`sweep.errors`,
:mod:`proxy_tasks.recipe` (lazily).
"""

from __future__ import annotations

from optuna.pruners import BasePruner

from sweep.errors import SweepError


class TuneSchedulerPruner(BasePruner):
    """Ray Tune's asynchronous successive halving (``AsyncHyperBandScheduler``) as an Optuna
    pruner whose state is the study database.

    For each decision a fresh scheduler is fed, in trial order, the intermediate values (the
    pre-training loss per epoch, signed like the objective) of every other COMPLETE, PRUNED or
    RUNNING trial, then this trial's own: each rung then holds what Ray Tune would have recorded,
    and the scheduler's answer for this trial's latest epoch is the decision. ``brackets > 1``
    (``hyperband``) puts each trial in a bracket drawn as Ray Tune draws it (softmax over the
    bracket sizes), seeded by the trial number, so a replay always finds the same bracket.
    Reaching ``max_t`` ends a trial normally (never pruned).
    """

    def __init__(
        self, *, max_t: int, grace_period: int = 1, reduction_factor: float = 4, brackets: int = 1
    ) -> None:
        self.max_t, self.grace_period = int(max_t), int(grace_period)
        self.reduction_factor, self.brackets = float(reduction_factor), int(brackets)
        if self.grace_period > self.max_t:
            raise SweepError(f"scheduler: grace_period {grace_period} > max_t {max_t}")

    def _scheduler(self):
        from ray.tune.schedulers import AsyncHyperBandScheduler

        sched = AsyncHyperBandScheduler(
            time_attr="t",
            metric="v",
            mode="max",
            max_t=self.max_t,
            grace_period=self.grace_period,
            reduction_factor=self.reduction_factor,
            brackets=self.brackets,
        )
        if not (hasattr(sched, "_brackets") and hasattr(sched, "_trial_info")):
            raise RuntimeError(
                "this Ray version's AsyncHyperBandScheduler has no _brackets/"
                "_trial_info: sweep.engine.ray_scheduler needs updating"
            )
        return sched

    def bracket(self, number: int, sched) -> int:
        import numpy as np

        sizes = np.array([len(b._rungs) for b in sched._brackets])
        probs = np.e ** (sizes - sizes.max())
        return int(np.random.default_rng(number).choice(len(sizes), p=probs / probs.sum()))

    def prune(self, study, trial) -> bool:
        from optuna.study import StudyDirection
        from optuna.trial import TrialState
        from ray.tune.schedulers import TrialScheduler

        step = trial.last_step
        if step is None or step >= self.max_t:
            return False
        sign = 1.0 if study.direction == StudyDirection.MAXIMIZE else -1.0
        states = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
        others = [
            t
            for t in study.get_trials(deepcopy=False, states=states)
            if t.number != trial.number and t.intermediate_values
        ]
        sched = self._scheduler()
        action = TrialScheduler.CONTINUE
        for t in [*others, trial]:
            key = TuneTrial(str(t.number))
            sched._trial_info[key.trial_id] = sched._brackets[self.bracket(t.number, sched)]
            for s, v in sorted(t.intermediate_values.items()):
                if t is trial and s > step:
                    break
                action = sched.on_trial_result(None, key, {"t": s, "v": sign * v})
        return action == TrialScheduler.STOP


class TuneTrial:
    """What Ray Tune's bracket bookkeeping reads from a trial: its id."""

    __slots__ = ("trial_id",)

    def __init__(self, trial_id: str) -> None:
        self.trial_id = trial_id


def scheduler_pruner(spec, profile: str):
    """The pruner for ``spec.backend.scheduler`` (None for ``none``); ``max_t`` defaults to the
    profile's pre-training epochs (the steps the proxy reports)."""
    sched = spec.backend.scheduler
    if sched["name"] == "none":
        return None
    opts = dict(sched.get("options") or {})
    if opts.get("max_t") is None:
        from proxy_tasks.recipe import make_recipe

        opts["max_t"] = max(1, int(make_recipe(profile, spec.recipe(profile)).pretrain_epochs))
    opts.setdefault("brackets", 3 if sched["name"] == "hyperband" else 1)
    return TuneSchedulerPruner(**opts)


def with_scheduler(spec, scheduler: dict):
    import dataclasses

    return dataclasses.replace(
        spec, backend=dataclasses.replace(spec.backend, scheduler=scheduler)
    )
