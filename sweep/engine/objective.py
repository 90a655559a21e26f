"""The Optuna objective of a sweep trial: suggest, run the proxy per replicate seed, store.

One call of :class:`Objective` is one trial: it names its worker, applies a fixed trial's labels,
asks the sampler for the searched values (:func:`sweep.space.suggest`), claims a ticket of the
search budget in the storage (or gives it back and ends: :class:`ClaimLost`), stores their
configuration key and, unless the trial is a fixed one, claims its replicate number (new seeds
for a configuration already evaluated: :mod:`sweep.engine.arms`), then runs the proxy task once
per seed (reporting the pre-training loss at :func:`sweep.record.loss_step` steps for the
pruner) and stores every metric (mean over the seeds and ``*_std``), each seed's objective
metrics, ``headline`` and ``scratch_headline`` (``sweep:per_seed``), the dataset and the seeds as
the trial's user attributes (the keys of :mod:`sweep.record`).

Imports: the standard library, numpy and Optuna (lazily), :mod:`sweep.record`,
:mod:`sweep.space`, :mod:`sweep.values`, :mod:`sweep.engine.signals`,
:mod:`sweep.engine.arms` and :mod:`proxy_tasks` (lazily).
"""

from __future__ import annotations

import os
import signal
import socket
import time
from typing import Any

from sweep import record
from sweep.engine.arms import claim_replicate, replicate_seeds
from sweep.engine.signals import Interrupt, NoInterrupt, TrialTimeout, mark_interrupted, on_timeout
from sweep.values import is_real

#: the metrics of each seed kept in ``sweep:per_seed`` besides the objectives
PER_SEED_METRICS = (record.HEADLINE, record.SCRATCH_METRIC)


class TrialFailed(Exception):
    """A proxy trial ended with status failed (its reason is in the trial's user attributes)."""


class ClaimLost(Exception):
    """The trial found every ticket of the search budget held by other trials (or its arm or
    cell already taken): it gives its ticket back (FAIL, ``sweep:claim_lost``) without running."""


class Shown:
    """What a running trial is doing, kept in its ``sweep:progress`` attribute for the
    launcher's bar and ``sweep status`` (:data:`sweep.record.PROGRESS`): written at each change
    of phase and otherwise at most every :data:`sweep.record.PROGRESS_EVERY_S` seconds, so a fast
    epoch does not become a storage write."""

    def __init__(self, trial, seeds: int, interrupt) -> None:
        self.trial, self.seeds, self.interrupt = trial, seeds, interrupt
        self.phase, self.of, self.seed = "", 0, -1
        self.last = float("-inf")

    def __call__(self, seed: int, name: str, step: int, value: float) -> None:
        from proxy_tasks.spec import PHASE_PREFIX

        if name.startswith(PHASE_PREFIX):
            phase, of = name[len(PHASE_PREFIX) :], int(value)
        elif name == record.PRETRAIN_LOSS:
            phase, of = "pretrain", self.of if self.phase == "pretrain" else 0
        else:
            return
        changed = (phase, seed) != (self.phase, self.seed)
        self.phase, self.of, self.seed = phase, of, seed
        now = time.monotonic()
        if changed or now - self.last >= record.PROGRESS_EVERY_S:
            self.last = now
            self.write(record.progress_value(seed, self.seeds, phase, step, of))

    def write(self, value) -> None:
        with self.interrupt.deferred():
            self.trial.set_user_attr(record.PROGRESS, value)

    def done(self) -> None:
        if self.seed >= 0:
            self.write(None)


class Objective:
    """Optuna objective: suggest, run the proxy once per replicate seed, store attributes.

    ``lock`` (set by a worker before each ``study.optimize``): the storage's pop lock
    (:class:`sweep.storage.PopLock`), released once the trial's replicate is claimed.

    ``budget`` (set by a worker): the search budget the trial claims a ticket of in the storage
    before it runs anything (:func:`sweep.record.claim_holds`); None claims nothing. ``lost``
    tells the worker, after ``study.optimize``, that the trial gave its ticket back."""

    def __init__(self, spec, profile: str, device: str, cache_dir: str | None) -> None:
        self.spec, self.profile, self.device, self.cache_dir = spec, profile, device, cache_dir
        self.timeout_s = spec.budget_for(profile).timeout_s
        self.interrupt: Interrupt | NoInterrupt = NoInterrupt()
        self.lock: Any = None
        self.budget: int | None = None
        self.lost = False

    def release(self) -> None:
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    def __call__(self, trial):
        import optuna

        self.lost = False
        try:
            seeds = self._claim(trial)
        finally:
            self.release()
        timeout = self.timeout_s
        if timeout:  # the budget's per-trial timeout: a TimeoutError fails the trial
            signal.signal(signal.SIGALRM, on_timeout)
            signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            return self._evaluate(trial, seeds)
        except TrialTimeout as e:
            trial.set_user_attr(record.ERROR_TYPE, "timeout")
            trial.set_user_attr(record.ERROR, str(e))
            raise TrialFailed(str(e)) from None
        except KeyboardInterrupt:
            mark_interrupted(trial)
            raise
        except (TrialFailed, ClaimLost, optuna.TrialPruned):
            raise
        except Exception as e:  # a bug or a crash of the task: the reason stays on the trial
            trial.set_user_attr(record.ERROR_TYPE, type(e).__name__)
            trial.set_user_attr(record.ERROR, str(e) or type(e).__name__)
            raise
        finally:
            if timeout:
                signal.setitimer(signal.ITIMER_REAL, 0)

    def _claim(self, trial) -> list[int]:
        """Name the worker, draw the values, store them and the configuration key, and pick
        the seeds: a fixed trial's own, else those of its replicate (claimed under the lock)."""
        from sweep.space import suggest

        spec = self.spec
        trial.set_user_attr(record.WORKER, f"{socket.gethostname()}:{os.getpid()}")
        trial.set_user_attr(record.ARM, record.arm_of(trial.user_attrs))  # every trial has one
        fixed = trial.user_attrs.get(record.FIXED) or {}
        for key, value in fixed.get(record.FIXED_ATTRS, {}).items():
            trial.set_user_attr(key, value)  # e.g. calibration:level, also on retries
        _, _, resolved = suggest(trial, spec, profile=self.profile)
        # (claimed once the values are drawn, as before, so that a kill in between leaves an
        # orphan whose retry keeps them; a trial that loses runs and records none of them)
        self._claim_ticket(trial)
        for key, value in resolved.items():
            trial.set_user_attr(record.param_attr(key), value)
        config = record.config_key(resolved)
        if not (fixed and record.CONFIG_KEY in trial.user_attrs):  # a cell keeps its own key
            trial.set_user_attr(record.CONFIG_KEY, config)
        if fixed:
            return [int(s) for s in fixed.get(record.FIXED_SEEDS) or spec.seeds]
        prefer = trial.user_attrs.get(record.REPLICATE)  # a retry keeps its replicate if free
        k = claim_replicate(trial.study, trial.number, config, prefer)
        trial.set_user_attr(record.REPLICATE, k)
        return replicate_seeds(spec.seeds, k)

    def _claim_ticket(self, trial) -> None:
        """Hold a ticket of the search budget, or give it back: :class:`ClaimLost` (the trial
        fails with ``sweep:claim_lost`` before it runs anything) when trials numbered below
        this one's lineage hold every ticket, or its arm or confirmation cell is taken. The
        storage numbered the trial atomically, so every worker of every launcher agrees."""
        trials = trial.study.get_trials(deepcopy=False)
        me = next((t for t in trials if t.number == trial.number), None)
        if me is None or record.claim_holds(trials, me, self.budget):
            return
        trial.set_user_attr(record.CLAIM_LOST, True)
        self.lost = True
        raise ClaimLost(
            f"trial {trial.number}: the search budget of {self.budget} is held by "
            "other trials; ticket given back"
        )

    def _evaluate(self, trial, seeds):
        import numpy as np
        import optuna

        from proxy_tasks import run_trial
        from sweep.space import values_from_params
        from sweep.trial import trial_specs

        spec = self.spec
        # A record.FIXED trial (sweep calibrate, the confirmation) runs its own recipe overrides
        # (on fields the search does not set) on its own seeds, and is never pruned.
        fixed = trial.user_attrs.get(record.FIXED) or {}
        specs = trial_specs(
            spec,
            self.profile,
            values_from_params(spec, trial.params),
            seeds=seeds,
            fixed=fixed,
            device=self.device,
            cache_dir=self.cache_dir,
        )
        single = len(spec.objectives) == 1 and not fixed
        sign = 1.0 if spec.objectives[0][1] == "maximize" else -1.0
        runs = []
        trial.set_user_attr(record.DATA_SEEDS, [s.data_seed for s in specs])
        shown = Shown(trial, len(seeds), self.interrupt)
        for r, one in enumerate(specs):

            def report(name: str, step: int, value: float, r=r) -> None:
                shown(r, name, step, value)
                if single and name == record.PRETRAIN_LOSS:
                    # Intermediate value: the pre-training loss, signed like the objective.
                    with self.interrupt.deferred():
                        trial.report(-sign * value, record.loss_step(r, step))
                        prune = trial.should_prune()
                    if prune:
                        raise optuna.TrialPruned(f"pruned at pre-training epoch {step}")

            with self.interrupt.interruptible():
                res = run_trial(one, report)
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
                    metrics[record.std_attr(key)] = float(np.std(vals, ddof=1))
        for key, value in metrics.items():
            trial.set_user_attr(key, value)
        shown.done()
        kept = (*spec.metric_names, *PER_SEED_METRICS)
        trial.set_user_attr(
            record.PER_SEED,
            {
                str(seed): {m: float(r.metrics[m]) for m in kept if is_real(r.metrics.get(m))}
                for seed, r in zip(seeds, runs, strict=True)
            },
        )
        dataset = runs[0].info[record.DATASET]
        trial.set_user_attr(record.DATASET_FINGERPRINT, dataset[record.FINGERPRINT])
        # The resolved dataset (every generator parameter): enough to re-render its images.
        trial.set_user_attr(record.DATASET, dataset)
        trial.set_user_attr(record.SEEDS, list(seeds))
        trial.set_user_attr(record.DEVICE, self.device)
        missing = [m for m, _ in spec.objectives if m not in metrics]
        if missing:
            raise TrialFailed(f"objective metric(s) not produced by the trial: {missing}")
        values = [metrics[m] for m, _ in spec.objectives]
        return values[0] if single else tuple(values)
