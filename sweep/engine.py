"""The sweep engine: Optuna studies of proxy trials, run by local worker processes.

``launch`` creates (or continues) a study in a SQLAlchemy or journal storage, records the resolved
config, its hash, the git commit and package versions as study attributes, and runs the budget on
local worker processes (one per GPU, or N on the CPU). Each worker loops: take a budget ticket from
the launcher, run ONE trial with ``study.optimize(n_trials=1)`` (so RDB heartbeats work), repeat.
Each trial calls the proxy task once per replicate seed, reports the pre-training loss to the
pruner, and stores every metric (mean over replicates, and ``*_std``), timings, the dataset
fingerprint and the resolved searched values as user attributes.

Fault tolerance:

* a worker records ``host:pid`` on its trial; when a worker dies mid-trial (killed, out of
  memory), the launcher marks the orphaned trial FAIL, enqueues ONE retry with the same
  parameters, and starts a replacement worker for the lost ticket;
* workers die with the launcher (``PR_SET_PDEATHSIG`` on Linux, a parent check elsewhere), so a
  killed launcher leaves RUNNING trials but no processes; ``resume`` fails those orphans (on this
  host: their pid is gone; elsewhere: their heartbeat is stale), retries them once, and runs the
  remaining budget: completed trials are never touched;
* a trial that no worker named within ``ORPHAN_GRACE_S`` (its worker died between Optuna's ask
  and the objective) is an orphan too, found at start and every 10 s;
* Ctrl-C cuts running trials inside their objective only (never a storage write), marks them
  ``sweep:interrupted`` and exits with status 130; the next run retries them, same parameters;
* ``stop`` sets a study attribute: running trials finish, no new ones start.
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime
import json
import logging
import os
import platform
import queue
import signal
import socket
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from sweep.errors import SweepError

ATTR_CONFIG = "sweep:config"
ATTR_FILE = "sweep:file"
ATTR_FILE_TEXT = "sweep:file_text"
ATTR_HASH = "sweep:space_hash"
ATTR_PROFILE = "sweep:profile"
ATTR_BUDGET = "sweep:budget"
ATTR_STOP = "sweep:stop"
ATTR_GIT = "sweep:git_commit"
ATTR_VERSIONS = "sweep:versions"
WORKER_ATTR = "sweep:worker"
RETRY_ATTR = "sweep:retry_of"
#: seconds after which a RUNNING trial that no worker has named is taken for an orphan
ORPHAN_GRACE_S = 10.0
#: a trial stopped by Ctrl-C (not its own failure): the next run retries it, same parameters
INTERRUPTED_ATTR = "sweep:interrupted"
#: a trial enqueued with fixed recipe overrides, seeds and labels (calibration trials)
FIXED_ATTR = "sweep:fixed"


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


# ----------------------------------------------------------------------------- metadata
def git_commit() -> str | None:
    root = Path(__file__).resolve().parents[1]
    try:
        out = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                             text=True, timeout=5)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("sweep-fdsl", "optuna", "torch", "timm", "numpy", "sqlalchemy"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


# ----------------------------------------------------------------------------- workers
def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


class _PopLock:
    """SQLite cannot pop an enqueued (WAITING) trial atomically: two workers may both take it
    and run it twice (optuna issue 4002; enqueued trials are retries and sweep calibrate's
    cells). A local worker of a SQLite storage holds this file lock (``<db>.pop-lock``) from
    before ``ask`` until its objective starts, when the trial is RUNNING. Other storages pop
    atomically: a no-op."""

    def __init__(self, url: str) -> None:
        self.fh = None
        if url.startswith("sqlite:///"):
            try:
                import fcntl

                self.fh = open(url[len("sqlite:///") :] + ".pop-lock", "a")
                fcntl.flock(self.fh, fcntl.LOCK_EX)
            except (ImportError, OSError):
                self.release()

    def release(self) -> None:
        if self.fh is not None:
            self.fh.close()  # closing the file drops the lock
            self.fh = None

    def released(self, objective):
        def run(trial):
            self.release()
            return objective(trial)

        return run

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> bool:
        self.release()
        return False


def _worker(plan: Plan, index: int, tickets, parent: int) -> None:
    """One worker process: take a ticket, run one trial, until tickets run out or a stop.

    Ctrl-C (SIGINT to the process group) ends it quietly with status 130. Inside the objective it
    interrupts the trial at once (Optuna marks it FAIL; the next run retries it with the same
    parameters); elsewhere (asking, telling: storage writes) it waits for that to finish, so a
    storage write is never cut in half."""
    interrupt = _Interrupt()
    signal.signal(signal.SIGINT, interrupt.handler)
    try:
        _worker_loop(plan, index, tickets, parent, interrupt)
    except KeyboardInterrupt:
        sys.exit(130)
    if interrupt.requested:
        sys.exit(130)


class _Interrupt:
    """SIGINT in a worker: a KeyboardInterrupt while the proxy computes, a flag elsewhere.

    Storage writes (Optuna's ask and tell, the trial's attributes, intermediate values) are
    never cut: a SIGINT during one is raised at the next safe point, or, when the trial has
    finished computing, lets it complete and stops the worker after it."""

    def __init__(self) -> None:
        self.requested = False
        self.inside = False

    def handler(self, signum, frame) -> None:
        if self.requested:
            return  # the launcher passes Ctrl-C on: one interrupt is enough
        self.requested = True
        if self.inside:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def interruptible(self):
        """The proxy's computation: Ctrl-C interrupts it at once."""
        if self.requested:
            raise KeyboardInterrupt
        self.inside = True
        try:
            yield
        finally:
            self.inside = False

    @contextlib.contextmanager
    def deferred(self):
        """A storage write inside the computation (the report callback): not cut."""
        was, self.inside = self.inside, False
        try:
            yield
        finally:
            self.inside = was
        if was and self.requested:
            raise KeyboardInterrupt

    def guard(self, objective):
        def run(trial):
            if self.requested:  # Ctrl-C while the trial was being created
                _mark_interrupted(trial)
                raise KeyboardInterrupt
            return objective(trial)

        return run


class _NoInterrupt:
    """Outside a local worker (the Ray backend, tests): Ctrl-C acts as Python's default."""

    def interruptible(self):
        return contextlib.nullcontext()

    deferred = interruptible


def _worker_loop(plan: Plan, index: int, tickets, parent: int, interrupt: _Interrupt) -> None:
    _die_with_parent()
    import optuna

    from sweep.space import load_study_config, make_pruner, make_sampler, make_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("optuna.study._optimize").addFilter(_no_interrupt_traceback)
    spec = load_study_config(plan.path, storage=plan.storage)
    storage = make_storage(plan.storage)
    study = optuna.load_study(study_name=plan.study, storage=storage,
                              sampler=make_sampler(spec, seed=1000 + index),
                              pruner=make_pruner(spec))  # fmt: skip
    device = _worker_device(plan.device, index)
    if device == "cpu":  # share the cores between the workers instead of oversubscribing them
        threads = max(1, (os.cpu_count() or 1) // max(1, plan.workers))
        os.environ["OMP_NUM_THREADS"] = str(threads)
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(threads)
    objective = Objective(spec, plan.profile, device, plan.cache_dir)
    objective.interrupt = interrupt
    while not interrupt.requested:
        if os.getppid() != parent:
            return  # the launcher is gone
        try:
            tickets.get(timeout=0.5)
        except queue.Empty:
            return  # the budget is spent
        if study.user_attrs.get(ATTR_STOP):
            return
        # Any exception fails the trial (Optuna records it), never the worker.
        with _PopLock(plan.storage) as lock:  # held until the trial is RUNNING
            study.optimize(lock.released(interrupt.guard(objective)), n_trials=1,
                           catch=(Exception,))  # fmt: skip


def _no_interrupt_traceback(record) -> bool:
    """Optuna logs a trial failed by Ctrl-C with its traceback: keep the one line."""
    if record.exc_info and record.exc_info[0] is KeyboardInterrupt:
        record.exc_info, record.exc_text = None, None
    return True


def _worker_device(device: str, index: int) -> str:
    if device == "auto":
        import torch

        n = torch.cuda.device_count()
        return f"cuda:{index % n}" if n else "cpu"
    return device


class TrialTimeout(BaseException):
    """Raised by the timer. A BaseException, so no library's ``except Exception`` (or, as for
    TimeoutError, ``except OSError`` in the import machinery) can swallow it."""


def _on_timeout(signum, frame) -> None:
    raise TrialTimeout("the trial ran past the budget's timeout_s")


def _mark_interrupted(trial) -> None:
    trial.set_user_attr(INTERRUPTED_ATTR, True)
    trial.set_user_attr("error", "interrupted (Ctrl-C); the next run retries it")


class TrialFailed(Exception):
    """A proxy trial ended with status failed (its reason is in the trial's user attributes)."""


class Objective:
    """Optuna objective: suggest, run the proxy once per replicate seed, store attributes."""

    def __init__(self, spec, profile: str, device: str, cache_dir: str | None) -> None:
        self.spec, self.profile, self.device, self.cache_dir = spec, profile, device, cache_dir
        self.timeout_s = spec.budget_for(profile).timeout_s
        self.interrupt: _Interrupt | _NoInterrupt = _NoInterrupt()

    def __call__(self, trial):
        from sweep.space import suggest

        spec = self.spec
        trial.set_user_attr(WORKER_ATTR, f"{socket.gethostname()}:{os.getpid()}")
        for key, value in (trial.user_attrs.get(FIXED_ATTR) or {}).get("attrs", {}).items():
            trial.set_user_attr(key, value)  # e.g. calibration:level, also on retries
        gen_over, rec_over, resolved = suggest(trial, spec, profile=self.profile)
        for key, value in resolved.items():
            trial.set_user_attr(f"param:{key}", value)
        timeout = self.timeout_s
        if timeout:  # the budget's per-trial timeout: a TimeoutError fails the trial
            signal.signal(signal.SIGALRM, _on_timeout)
            signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            return self._evaluate(trial, gen_over, rec_over)
        except TrialTimeout as e:
            trial.set_user_attr("error_type", "timeout")
            trial.set_user_attr("error", str(e))
            raise TrialFailed(str(e)) from None
        except KeyboardInterrupt:
            _mark_interrupted(trial)
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
        # A FIXED_ATTR trial (sweep calibrate) runs its own recipe overrides (on fields the
        # search does not set) on its own seeds, and is never pruned.
        fixed = trial.user_attrs.get(FIXED_ATTR) or {}
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
                        trial.report(-sign * value, r * 10_000 + step)
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
                trial.set_user_attr("error_type", res.error_type)
                trial.set_user_attr("error", res.message)
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
        trial.set_user_attr("dataset_fingerprint", runs[0].info["dataset"]["fingerprint"])
        # The resolved dataset (every generator parameter): enough to re-render its images.
        trial.set_user_attr("dataset", runs[0].info["dataset"])
        trial.set_user_attr("seeds", list(seeds))
        trial.set_user_attr("device", self.device)
        missing = [m for m, _ in spec.objectives if m not in metrics]
        if missing:
            raise TrialFailed(f"objective metric(s) not produced by the trial: {missing}")
        values = [metrics[m] for m, _ in spec.objectives]
        return values[0] if single else tuple(values)


# ----------------------------------------------------------------------------- launcher
def _open_study(spec, profile: str, fork: str | None, *, create: bool):
    import optuna

    from sweep.space import make_storage

    storage = make_storage(spec.storage)
    name = fork or spec.study
    h = spec.space_hash(profile)
    try:
        study = optuna.load_study(study_name=name, storage=storage)
        existing = True
    except KeyError:
        existing = False
    if existing:
        old = study.user_attrs.get(ATTR_HASH)
        if old is not None and old != h:
            raise SweepError(
                f"study '{name}' exists with a different search space (hash {old}, file "
                f"{h}); continue it as it was with 'sweep resume {name}', or start a new "
                f"study with --fork NEW_NAME"
            )
        return study
    if not create:
        raise SweepError(f"no study '{name}' in {spec.storage}")
    directions = [d for _, d in spec.objectives]
    study = optuna.create_study(study_name=name, storage=storage, directions=directions)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names([m for m, _ in spec.objectives])
    study.set_user_attr(ATTR_CONFIG, spec.resolved(profile))
    study.set_user_attr(ATTR_FILE, str(Path(spec.path).resolve()))
    study.set_user_attr(ATTR_FILE_TEXT, Path(spec.path).read_text())
    study.set_user_attr(ATTR_HASH, h)
    study.set_user_attr(ATTR_PROFILE, profile)
    study.set_user_attr(ATTR_GIT, git_commit())
    study.set_user_attr(ATTR_VERSIONS, versions())
    if spec.question:
        study.set_user_attr("question", spec.question)
    return study


def fail_orphans(study, *, all_running: bool = False, dead=(), only_unnamed=False) -> list[int]:
    """Mark RUNNING trials whose worker is gone as FAIL and enqueue one retry of each; enqueue
    a retry of each trial stopped by Ctrl-C that has none yet.

    A worker on this host is gone when its pid no longer exists (or ``all_running``: the caller
    knows no worker of this study is alive; or its ``host:pid`` is in ``dead``: the Ray backend
    saw that actor die). A trial that no worker named within ``ORPHAN_GRACE_S`` of its start
    lost its worker before the objective began (``only_unnamed``: only those; the launcher
    checks for them as it runs). Returns the numbers of the trials failed.
    """
    import optuna
    from optuna.trial import TrialState

    if only_unnamed:  # the launcher's periodic check: the RUNNING trials are enough
        running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    else:
        trials = study.get_trials(deepcopy=False)
        running = [t for t in trials if t.state == TrialState.RUNNING]
        retried = {_retry_of(t) for t in trials} - {None}
        for t in trials:
            interrupted = t.state == TrialState.FAIL and t.user_attrs.get(INTERRUPTED_ATTR)
            if interrupted and t.number not in retried:
                _enqueue_retry(study, t)
    host = socket.gethostname()
    failed = []
    now = datetime.datetime.now()
    for t in running:
        worker = t.user_attrs.get(WORKER_ATTR, "")
        w_host, _, pid = worker.partition(":")
        here = w_host == host and pid.isdigit()
        # A worker names itself on its trial milliseconds after creating it: a trial still
        # unnamed after ORPHAN_GRACE_S lost its worker in between (a kill at that moment).
        unnamed = (
            not worker
            and t.datetime_start is not None
            and ((now - t.datetime_start).total_seconds() > ORPHAN_GRACE_S)
        )
        if only_unnamed:
            gone = unnamed
        else:
            gone = all_running or worker in dead or (here and not _alive(int(pid))) or unnamed
        if not gone:
            continue
        study._storage.set_trial_user_attr(t._trial_id, "error", "worker died mid-trial")
        study.tell(t.number, state=TrialState.FAIL)
        failed.append(t.number)
        if RETRY_ATTR not in t.user_attrs:
            _enqueue_retry(study, t)
    if failed:
        optuna.logging.get_logger("sweep").info("failed orphaned trials %s", failed)
    return failed


def _enqueue_retry(study, t) -> None:
    keep = {k: t.user_attrs[k] for k in (FIXED_ATTR,) if k in t.user_attrs}
    study.enqueue_trial(t.params, user_attrs={**keep, RETRY_ATTR: t.number},
                        skip_if_exists=False)  # fmt: skip


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def counts(study) -> dict[str, int]:
    from collections import Counter

    c = Counter(t.state.name for t in study.get_trials(deepcopy=False))
    return {k: c.get(k, 0) for k in ("COMPLETE", "PRUNED", "FAIL", "RUNNING", "WAITING")}


def _used_budget(study) -> int:
    """Trials that consumed a ticket: finished ones, except failures that were retried."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    retried = {_retry_of(t) for t in trials} - {None}
    used = 0
    for t in trials:
        if t.state in (TrialState.COMPLETE, TrialState.PRUNED):
            used += 1
        elif t.state == TrialState.FAIL and t.number not in retried:
            used += 1
    return used


def run(
    path: str,
    *,
    profile: str | None = None,
    storage: str | None = None,
    workers: int | None = None,
    trials: int | None = None,
    device: str = "auto",
    fork: str | None = None,
    resume: bool = False,
    progress: bool = True,
    cache_dir: str | None = "runs/cache",
    quiet: bool = False,
    backend: str | None = None,
    address: str | None = None,
) -> dict[str, Any]:
    """Launch or resume a study from a search-space file (see the module docstring)."""
    import optuna

    from proxy_tasks.vit import resolve_profile, resolve_torch_device
    from sweep.space import load_study_config, mask_url, with_backend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = load_study_config(path, storage=storage)
    spec = with_backend(spec, backend, address)  # --backend / --address
    if spec.backend.name == "ray" and spec.backend.address:
        from sweep.ray_backend import probe_address

        probe_address(spec.backend.address)  # before anything is written
    dev = resolve_torch_device(device)
    asked = profile or spec.profile
    prof = resolve_profile(asked, dev)
    if asked == "auto" and spec.backend.name == "ray" and (spec.backend.gpus or 0) > 0:
        prof = "gpu"  # the trials get GPUs on the cluster, whatever the driver has
    if asked == "auto" and not quiet:
        why = "a CUDA device is available" if dev.type == "cuda" else "no CUDA device"
        print(f"sweep: profile '{prof}' ({why}); override with --profile", file=sys.stderr)
    plan_budget = spec.budget_for(prof)
    budget = trials if trials is not None else plan_budget.trials
    n_workers = workers if workers is not None else plan_budget.workers
    if budget < 1 or n_workers < 1:
        raise SweepError("--trials and --workers must be positive integers")
    study = _open_study(spec, prof, fork, create=True)
    name = study.study_name
    stored = study.user_attrs.get(ATTR_BUDGET) or {}
    if resume and trials is None and "trials" in stored:
        budget = int(stored["trials"])  # the budget the study was launched with
    study.set_user_attr(ATTR_BUDGET, {**stored, "trials": budget, "workers": n_workers,
                                      "max_failed": plan_budget.max_failed})  # fmt: skip
    if not quiet:
        print(f"sweep: study '{name}' in {mask_url(spec.storage)}", file=sys.stderr)
        from sweep.calibrate import launch_warning

        if warning := launch_warning(spec, prof, study):  # below a calibrated verdict
            print(f"sweep: warning: {warning}", file=sys.stderr)
    fail_orphans(study)  # trials of workers that are gone (a killed launcher, an OOM kill)
    study.set_user_attr(ATTR_STOP, False)
    remaining = max(0, budget - _used_budget(study))
    plan = Plan(str(Path(path).resolve()), spec.storage, name, prof, device, cache_dir,
                min(n_workers, max(remaining, 1)))  # fmt: skip
    t0 = time.perf_counter()
    if remaining and spec.backend.name == "ray":  # Ray actors (sweep/ray_backend.py)
        from sweep.ray_backend import run_workers

        run_workers(plan, study, remaining, min(n_workers, remaining), spec, progress, budget,
                    plan_budget.max_failed)  # fmt: skip
    elif remaining:
        _run_workers(plan, study, remaining, min(n_workers, remaining), spec, progress, budget,
                     plan_budget.max_failed)  # fmt: skip
    summary = summarize(study, spec)
    summary.update(study=name, storage=mask_url(spec.storage), profile=prof,
                   seconds=round(time.perf_counter() - t0, 1))  # fmt: skip
    return summary


def _run_workers(plan, study, remaining, n_workers, spec, progress, budget, max_failed) -> None:
    ctx = get_context("spawn")
    tickets = ctx.Queue()
    for _ in range(remaining):
        tickets.put(1)
    parent = os.getpid()
    procs = {}

    def start(i: int) -> None:
        p = ctx.Process(target=_worker, args=(plan, i, tickets, parent), daemon=False)
        p.start()
        procs[i] = p

    for i in range(n_workers):
        start(i)
    try:
        with _Progress(progress, study, budget, spec) as bar:
            ticks = 0
            while procs:
                time.sleep(0.5)
                ticks += 1
                if ticks % 20 == 0:  # every 10 s: trials whose worker died before naming itself
                    fail_orphans(study, only_unnamed=True)  # (its ticket: the death path's)
                for i, p in list(procs.items()):
                    if p.is_alive():
                        continue
                    del procs[i]
                    if p.exitcode != 0:  # died mid-trial: fail + retry its trial, replace it
                        fail_orphans(study)
                        tickets.put(1)
                        start(i)
                bar.update()
                if counts(study)["FAIL"] >= max_failed + _retried(study):
                    study.set_user_attr(ATTR_STOP, True)  # too many failures: let them drain
    except KeyboardInterrupt:
        # Ctrl-C: pass it on (a worker counts only the first) and let the workers record their
        # trials before leaving; one that takes too long dies with us and is retried by resume.
        for p in procs.values():
            if p.is_alive() and p.pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(p.pid, signal.SIGINT)
        deadline = time.monotonic() + 30
        for p in procs.values():
            p.join(max(0.0, deadline - time.monotonic()))
        raise


def _retry_of(t) -> int | None:
    """The trial a retry replaces: ours, or Optuna's heartbeat retry (system attr)."""
    if RETRY_ATTR in t.user_attrs:
        return t.user_attrs[RETRY_ATTR]
    return t.system_attrs.get("failed_trial")


def _retried(study) -> int:
    return sum(_retry_of(t) is not None for t in study.get_trials(deepcopy=False))


class _Progress:
    def __init__(self, enabled: bool, study, budget: int, spec) -> None:
        self.enabled, self.study, self.budget, self.spec = enabled, study, budget, spec

    def __enter__(self):
        if self.enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self.p = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                              MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                              TimeElapsedColumn())  # fmt: skip
            self.p.__enter__()
            self.task = self.p.add_task(self.study.study_name, total=self.budget, info="")
            self.update()
        return self

    def update(self) -> None:
        if not self.enabled:
            return
        c = counts(self.study)
        best = best_summary(self.study, self.spec)
        info = (f"done {c['COMPLETE']} pruned {c['PRUNED']} failed {c['FAIL']} "
                f"running {c['RUNNING']}" + (f" | best {best}" if best else ""))  # fmt: skip
        self.p.update(self.task, completed=min(_used_budget(self.study), self.budget), info=info)

    def __exit__(self, *exc):
        if self.enabled:
            self.update()
            self.p.__exit__(*exc)
        return False


def best_summary(study, spec) -> str:
    try:
        if len(spec.objectives) == 1:
            b = study.best_trial
            return f"#{b.number} {spec.objectives[0][0]}={b.value:.4g}"
        return f"{len(study.best_trials)} on the Pareto front"
    except ValueError:
        return ""


def summarize(study, spec) -> dict[str, Any]:
    from optuna.trial import TrialState

    out: dict[str, Any] = {"counts": counts(study)}
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not done:
        return out
    if len(spec.objectives) == 1:
        rev = spec.objectives[0][1] == "maximize"
        top = sorted(done, key=lambda t: t.value, reverse=rev)[:5]
    else:
        top = study.best_trials[:10]
    out["top"] = [{"number": t.number, "values": t.values,
                   "params": {k[6:]: v for k, v in t.user_attrs.items()
                              if k.startswith("param:")}} for t in top]  # fmt: skip
    return out


# ----------------------------------------------------------------------------- other commands
def load_study_by_name(name: str, storage: str | None):
    import optuna

    from sweep.space import default_storage, make_storage, mask_url

    url = storage or default_storage(name)
    st = make_storage(url, heartbeat=False)
    try:
        return optuna.load_study(study_name=name, storage=st)
    except KeyError:
        names = [s.study_name for s in optuna.get_all_study_summaries(st)]
        from sweep.errors import did_you_mean

        raise SweepError(
            f"no study '{name}' in {mask_url(url)}{did_you_mean(name, names)}"
            + (f"; studies: {', '.join(names)}" if names else "")
        ) from None


def resume(name: str, *, storage: str | None = None, fork: str | None = None, **kw):
    """Continue a study with its remaining budget, from the config stored in the study."""
    import tempfile

    from sweep.space import load_study_config

    study = load_study_by_name(name, storage)
    text = study.user_attrs.get(ATTR_FILE_TEXT)
    if text is None:
        raise SweepError(f"study '{name}' was not created by sweep launch; nothing to resume")
    original = study.user_attrs.get(ATTR_FILE)
    profile = kw.pop("profile", None) or study.user_attrs.get(ATTR_PROFILE)
    url = storage or study.user_attrs.get(ATTR_CONFIG, {}).get("storage")
    if original and Path(original).is_file() and Path(original).read_text() != text:
        current = load_study_config(original, storage=url)
        if current.space_hash(profile) != study.user_attrs.get(ATTR_HASH) and not fork:
            raise SweepError(
                f"{original} changed its search space since study '{name}' started; "
                f"'sweep resume {name} --fork NEW_NAME' starts a new study from the current "
                "file (the old one is kept)"
            )
        if fork:
            return run(original, storage=url, profile=profile, fork=fork, **kw)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / (Path(original or "study.yaml").name)
        path.write_text(text)
        return run(str(path), storage=url, profile=profile, resume=True, **kw)


def stop(name: str, storage: str | None = None) -> None:
    load_study_by_name(name, storage).set_user_attr(ATTR_STOP, True)


def export(name: str, storage: str | None, out: str | None) -> dict[str, str]:
    """trials.csv and trials.json of a study (params, values, state, every user attribute)."""
    import csv

    study = load_study_by_name(name, storage)
    outdir = Path(out or Path("runs") / "exports" / name)
    outdir.mkdir(parents=True, exist_ok=True)
    rows = []
    for t in study.get_trials(deepcopy=False):
        rows.append({
            "number": t.number, "state": t.state.name,
            "values": t.values, "params": t.params, "user_attrs": t.user_attrs,
            "intermediate_values": t.intermediate_values,
            "datetime_start": t.datetime_start.isoformat() if t.datetime_start else None,
            "datetime_complete": t.datetime_complete.isoformat() if t.datetime_complete else None,
        })  # fmt: skip
    (outdir / "trials.json").write_text(
        json.dumps(
            {"study": name, "user_attrs": study.user_attrs, "trials": rows}, indent=1, default=str
        )
    )
    flat = []
    for r in rows:
        f = {"number": r["number"], "state": r["state"]}
        for i, v in enumerate(r["values"] or []):
            f[f"value_{i}"] = v
        f.update({f"params.{k}": v for k, v in r["params"].items()})
        f.update({f"attrs.{k}": json.dumps(v) if isinstance(v, list | dict) else v
                  for k, v in r["user_attrs"].items()})  # fmt: skip
        f["datetime_start"], f["datetime_complete"] = r["datetime_start"], r["datetime_complete"]
        flat.append(f)
    fields = sorted({k for f in flat for k in f}, key=lambda k: (not k[0].isalpha(), k))
    order = ["number", "state"] + [k for k in fields if k not in ("number", "state")]
    with open(outdir / "trials.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=order)
        w.writeheader()
        w.writerows(flat)
    return {"csv": str(outdir / "trials.csv"), "json": str(outdir / "trials.json")}


def dashboard(storage: str | None, port: int) -> int:
    """Run optuna-dashboard on 127.0.0.1 only (it has unauthenticated write routes)."""
    import shutil

    from sweep.space import default_storage, mask_url, normalize_storage

    url = normalize_storage(storage) if storage else default_storage("")
    exe = shutil.which("optuna-dashboard") or str(
        Path(sys.executable).with_name("optuna-dashboard")
    )
    target = url[len("journal:///") - 1 :] if url.startswith("journal:///") else url
    print(f"sweep: dashboard for {mask_url(url)} at http://127.0.0.1:{port}/ (Ctrl-C stops it; "
          "from another machine use an SSH tunnel)", file=sys.stderr)  # fmt: skip
    sys.stderr.flush()
    # Become the dashboard process, so that signals (Ctrl-C, SIGTERM) reach it directly.
    os.execv(exe, [exe, target, "--host", "127.0.0.1", "--port", str(port)])
    return 0  # pragma: no cover - execv does not return
