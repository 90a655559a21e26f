"""The Optuna objective of a sweep trial: suggest, run the proxy per replicate seed, store.

One call of :class:`Objective` is one trial: it names its worker, applies a fixed trial's labels,
asks the sampler for the searched values (:func:`sweep.space.suggest`), runs the proxy task once
per replicate seed (reporting the pre-training loss at :func:`sweep.record.loss_step` steps for
the pruner) and stores every metric (mean over replicates and ``*_std``), the dataset and the
seeds as the trial's user attributes (the keys of :mod:`sweep.record`).

Imports: the standard library, numpy and Optuna (lazily), :mod:`sweep.record`,
:mod:`sweep.space`, :mod:`sweep.engine.signals` and :mod:`proxy_tasks` (lazily).
"""

from __future__ import annotations

import os
import signal
import socket
from typing import Any

from sweep import record
from sweep.engine.signals import Interrupt, NoInterrupt, TrialTimeout, mark_interrupted, on_timeout


class TrialFailed(Exception):
    """A proxy trial ended with status failed (its reason is in the trial's user attributes)."""


class Objective:
    """Optuna objective: suggest, run the proxy once per replicate seed, store attributes."""

    def __init__(self, spec, profile: str, device: str, cache_dir: str | None) -> None:
        self.spec, self.profile, self.device, self.cache_dir = spec, profile, device, cache_dir
        self.timeout_s = spec.budget_for(profile).timeout_s
        self.interrupt: Interrupt | NoInterrupt = NoInterrupt()

    def __call__(self, trial):
        from sweep.space import suggest

        spec = self.spec
        trial.set_user_attr(record.WORKER, f"{socket.gethostname()}:{os.getpid()}")
        for key, value in (trial.user_attrs.get(record.FIXED) or {}).get("attrs", {}).items():
            trial.set_user_attr(key, value)  # e.g. calibration:level, also on retries
        gen_over, rec_over, resolved = suggest(trial, spec, profile=self.profile)
        for key, value in resolved.items():
            trial.set_user_attr(record.param_attr(key), value)
        timeout = self.timeout_s
        if timeout:  # the budget's per-trial timeout: a TimeoutError fails the trial
            signal.signal(signal.SIGALRM, on_timeout)
            signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            return self._evaluate(trial, gen_over, rec_over)
        except TrialTimeout as e:
            trial.set_user_attr(record.ERROR_TYPE, "timeout")
            trial.set_user_attr(record.ERROR, str(e))
            raise TrialFailed(str(e)) from None
        except KeyboardInterrupt:
            mark_interrupted(trial)
            raise
        finally:
            if timeout:
                signal.setitimer(signal.ITIMER_REAL, 0)

    def _evaluate(self, trial, gen_over, rec_over):
        import numpy as np
        import optuna

        from proxy_tasks import run_trial
        from proxy_tasks.spec import TrialSpec

        spec = self.spec
        # A record.FIXED trial (sweep calibrate) runs its own recipe overrides (on fields the
        # search does not set) on its own seeds, and is never pruned.
        fixed = trial.user_attrs.get(record.FIXED) or {}
        params = {**spec.generator_params(self.profile), **gen_over}
        recipe = {**spec.recipe(self.profile), **rec_over, **fixed.get("recipe", {})}
        seeds = fixed.get("seeds") or spec.seeds
        single = len(spec.objectives) == 1 and not fixed
        sign = 1.0 if spec.objectives[0][1] == "maximize" else -1.0
        runs = []
        for r, seed in enumerate(seeds):

            def report(name: str, step: int, value: float, r=r) -> None:
                if single and name == "pretrain_loss":
                    # Intermediate value: the pre-training loss, signed like the objective.
                    with self.interrupt.deferred():
                        trial.report(-sign * value, record.loss_step(r, step))
                        prune = trial.should_prune()
                    if prune:
                        raise optuna.TrialPruned(f"pruned at pre-training epoch {step}")

            with self.interrupt.interruptible():
                res = run_trial(TrialSpec(
                    generator=spec.generator, params=params, task=spec.task,
                    profile=self.profile, recipe=recipe, data_seed=seed, train_seed=seed,
                    device=self.device, cache_dir=self.cache_dir, roots=spec.roots(),
                ), report)  # fmt: skip
            if res.status == "pruned":
                raise optuna.TrialPruned(res.message)
            if res.status != "complete":
                trial.set_user_attr(record.ERROR_TYPE, res.error_type)
                trial.set_user_attr(record.ERROR, res.message)
                raise TrialFailed(f"{res.error_type}: {res.message}")
            runs.append(res)
        metrics: dict[str, Any] = {}
        for key in runs[0].metrics:
            vals = [r.metrics[key] for r in runs]
            if all(isinstance(v, int | float) for v in vals):
                metrics[key] = float(np.mean(vals))
                if len(vals) > 1:
                    metrics[f"{key}_std"] = float(np.std(vals, ddof=1))
        for key, value in metrics.items():
            trial.set_user_attr(key, value)
        trial.set_user_attr(record.DATASET_FINGERPRINT, runs[0].info["dataset"]["fingerprint"])
        # The resolved dataset (every generator parameter): enough to re-render its images.
        trial.set_user_attr(record.DATASET, runs[0].info["dataset"])
        trial.set_user_attr(record.SEEDS, list(seeds))
        trial.set_user_attr(record.DEVICE, self.device)
        missing = [m for m, _ in spec.objectives if m not in metrics]
        if missing:
            raise TrialFailed(f"objective metric(s) not produced by the trial: {missing}")
        values = [metrics[m] for m, _ in spec.objectives]
        return values[0] if single else tuple(values)
