"""The local backend: worker processes on this machine, one trial per budget ticket.

Each worker loops: take a ticket from the launcher's queue, run ONE trial with
``study.optimize(n_trials=1)`` (so RDB heartbeats work), repeat. Workers die with the launcher
(``PR_SET_PDEATHSIG`` on Linux, a parent check elsewhere); the launcher fails the trial of a
worker that died, enqueues one retry and starts a replacement (:func:`run_workers`).

Imports: the standard library, Optuna and torch (lazily), :mod:`sweep.record`,
:mod:`sweep.storage`, :mod:`sweep.study_config`, :mod:`sweep.samplers` and this package's
``backend``, ``objective``, ``signals``, ``study`` and ``progress``.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import queue
import signal
import sys
import time
from multiprocessing import get_context

from sweep import record
from sweep.engine.backend import Plan, sampler_seed
from sweep.engine.objective import Objective
from sweep.engine.progress import Progress
from sweep.engine.signals import Interrupt
from sweep.engine.study import counts, fail_orphans, retried


def die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


def _worker(plan: Plan, index: int, tickets, parent: int) -> None:
    """One worker process: take a ticket, run one trial, until tickets run out or a stop.

    Ctrl-C (SIGINT to the process group), SIGTERM (``kill``, ``timeout``, a batch scheduler) and
    SIGHUP (a closed terminal) end it quietly with status 130. Inside the objective they
    interrupts the trial at once (Optuna marks it FAIL; the next run retries it with the same
    parameters); elsewhere (asking, telling: storage writes) it waits for that to finish, so a
    storage write is never cut in half."""
    interrupt = Interrupt()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupt.handler)
    try:
        _worker_loop(plan, index, tickets, parent, interrupt)
    except KeyboardInterrupt:
        sys.exit(130)
    if interrupt.requested:
        sys.exit(130)


def _worker_loop(plan: Plan, index: int, tickets, parent: int, interrupt: Interrupt) -> None:
    die_with_parent()
    import optuna

    from sweep.samplers import make_pruner, make_sampler
    from sweep.storage import PopLock, make_storage
    from sweep.study_config import load_study_config

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("optuna.study._optimize").addFilter(_no_interrupt_traceback)
    spec = load_study_config(plan.path, storage=plan.storage)
    storage = make_storage(plan.storage)
    study = optuna.load_study(study_name=plan.study, storage=storage,
                              sampler=make_sampler(spec, seed=sampler_seed(plan, index)),
                              pruner=make_pruner(spec))  # fmt: skip
    device = worker_device(plan.device, index)
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
        if study.user_attrs.get(record.STUDY_STOP):
            return
        # Any exception fails the trial (Optuna records it), never the worker. The pop lock is
        # held until the trial is RUNNING and has claimed its replicate (sweep.engine.arms).
        with PopLock(plan.storage) as lock:
            objective.lock = lock
            study.optimize(interrupt.guard(objective), n_trials=1, catch=(Exception,))
            objective.release()


def _no_interrupt_traceback(record) -> bool:
    """Optuna logs a trial failed by Ctrl-C with its traceback: keep the one line."""
    if record.exc_info and record.exc_info[0] is KeyboardInterrupt:
        record.exc_info, record.exc_text = None, None
    return True


def worker_device(device: str, index: int) -> str:
    if device == "auto":
        import torch

        n = torch.cuda.device_count()
        return f"cuda:{index % n}" if n else "cpu"
    return device


def run_workers(plan, study, remaining, n_workers, spec, progress, budget, max_failed) -> None:
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
        with Progress(progress, study, budget, spec, plan.phase) as bar:
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
                if counts(study)["FAIL"] >= max_failed + retried(study):
                    # too many failures: let them drain
                    study.set_user_attr(record.STUDY_STOP, True)
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
