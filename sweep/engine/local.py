"""The local backend: worker processes on this machine, one trial per budget ticket.

Each worker loops: take a ticket from the launcher (:class:`TicketDesk`: one pipe per worker,
no multiprocessing queue, lock or semaphore, so a launcher killed with ``kill -9`` leaves nothing
for Python's resource tracker to clean up), check in the storage that the study
still has work (:func:`sweep.engine.claims.open_tickets`: an unclaimed ticket of the search
budget, or a WAITING trial), run ONE trial with ``study.optimize(n_trials=1)`` (so RDB
heartbeats work), repeat. The trial claims its ticket in the storage before it runs anything
(:func:`sweep.record.claim_holds`), so the desk is only this launcher's upper bound: another
launcher (or host, or Ray driver) on the same study shares the same budget; a trial that finds
every ticket held gives its own back, and its worker stops once the storage shows no work
left. Each worker's sampler is seeded from the number of its first trial
(:class:`FirstTrialSeeded`), which the storage hands out atomically: no two workers of any
launchers draw the same sequence. Workers die with the launcher (``PR_SET_PDEATHSIG`` on Linux,
a parent check elsewhere); the launcher fails the trial of a worker that died, enqueues one
retry and starts a replacement (:func:`run_workers`).

Imports: the standard library, Optuna, torch (lazily), :mod:`sweep.record`,
:mod:`sweep.storage`, :mod:`sweep.study_config`, :mod:`sweep.samplers` and this package's
``backend``, ``objective``, ``signals``, ``study`` and ``progress``.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing import get_context
from typing import Any

from optuna.samplers import BaseSampler

from sweep import record
from sweep.engine.backend import Plan, sampler_seed, worker_config
from sweep.engine.claims import claim_budget, open_tickets
from sweep.engine.objective import ClaimLost, Objective, TrialFailed
from sweep.engine.progress import Progress
from sweep.engine.signals import Interrupt
from sweep.engine.study import counts, fail_orphans, retried


class FirstTrialSeeded(BaseSampler):
    """A worker's sampler, made at its first trial with the seed ``base + that trial's number``.

    The storage numbers trials atomically (a trial popped from the queue is popped by one worker
    only), so no two workers (of one launcher, of two launchers started at once, of a resume)
    share a seed; a seed taken from a count of trials at launch gave two launchers started
    together identical sequences. ``make(seed)`` builds the sampler; every call is forwarded."""

    def __init__(self, make: Callable[[int], Any], base: int) -> None:
        self._make, self._base = make, int(base)
        self._inner: Any = None

    def sampler(self, number: int = 0) -> Any:
        if self._inner is None:
            self._inner = self._make(self._base + int(number))
        return self._inner

    def before_trial(self, study, trial) -> None:
        self.sampler(trial.number).before_trial(study, trial)

    def infer_relative_search_space(self, study, trial):
        return self.sampler(trial.number).infer_relative_search_space(study, trial)

    def sample_relative(self, study, trial, search_space):
        return self.sampler(trial.number).sample_relative(study, trial, search_space)

    def sample_independent(self, study, trial, param_name, param_distribution):
        return self.sampler(trial.number).sample_independent(
            study, trial, param_name, param_distribution
        )

    def after_trial(self, study, trial, state, values) -> None:
        self.sampler(trial.number).after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.sampler().reseed_rng()


class TicketDesk:
    """The launcher's share of the budget, handed to its workers one ticket at a time.

    Each worker talks to the launcher over its own pipe (:class:`TicketWindow` at the other
    end): ``("take",)`` is answered ``True`` (a ticket) or ``False`` (this launcher's share is
    spent), ``("back",)`` returns a ticket, ``("failed", line)`` says the storage failed under
    it. A pipe has one reader and one writer at each end, so nothing needs a lock: unlike
    multiprocessing's queues (three POSIX semaphores each), a launcher killed with ``kill -9``
    leaves no semaphore behind (the resource tracker's "leaked semaphore objects" warning)."""

    def __init__(self, ctx: Any, tickets: int) -> None:
        self.ctx, self.left = ctx, int(tickets)
        self.conns: dict[int, Any] = {}
        self.failures: list[str] = []

    def connect(self, index: int) -> Any:
        """A new pipe for worker ``index`` (a replacement gets its own); the worker's end."""
        if (old := self.conns.pop(index, None)) is not None:
            self._drain_conn(old)
            old.close()
        mine, theirs = self.ctx.Pipe(duplex=True)
        self.conns[index] = mine
        return theirs

    def serve(self, timeout: float) -> None:
        """Answer every worker that asked, waiting up to ``timeout`` s for the first."""
        from multiprocessing.connection import wait

        for conn in wait(list(self.conns.values()), timeout) if self.conns else ():
            self._answer(conn)
        if not self.conns:
            time.sleep(timeout)

    def _answer(self, conn: Any) -> None:
        while True:
            try:
                if not conn.poll():
                    return
                msg = conn.recv()
            except (EOFError, OSError):  # the worker is gone: its pipe closes with it
                self.conns = {i: c for i, c in self.conns.items() if c is not conn}
                return
            if msg[0] == "take":
                grant = self.left > 0
                self.left -= int(grant)
                with contextlib.suppress(OSError):
                    conn.send(grant)
            elif msg[0] == "back":
                self.left += 1
            elif msg[0] == "failed":
                self.failures.append(str(msg[1]))

    def _drain_conn(self, conn: Any) -> None:
        with contextlib.suppress(EOFError, OSError):
            while conn.poll():
                msg = conn.recv()
                if msg[0] == "failed":
                    self.failures.append(str(msg[1]))

    def gone(self, index: int) -> None:
        """Worker ``index`` exited: read what it said last (a storage failure's line)."""
        if (conn := self.conns.pop(index, None)) is not None:
            self._drain_conn(conn)
            conn.close()

    def put(self) -> None:
        self.left += 1

    def drain(self) -> None:
        """No more tickets: the workers stop after their current trial."""
        self.left = 0

    def first_failure(self, default: str) -> str:
        return self.failures[0] if self.failures else default

    def close(self) -> None:
        for conn in self.conns.values():
            conn.close()
        self.conns = {}


class TicketWindow:
    """A worker's end of its pipe to the :class:`TicketDesk` (one writer thread at a time:
    Optuna's heartbeat thread may report a storage failure while the worker asks)."""

    def __init__(self, conn: Any, parent: int) -> None:
        self.conn, self.parent = conn, parent
        self.lock = threading.Lock()

    def _send(self, *msg: Any) -> bool:
        with self.lock:
            try:
                self.conn.send(msg)
                return True
            except OSError:  # the launcher is gone
                return False

    def take(self, interrupt: Interrupt) -> bool:
        """A ticket (True), or False when this launcher's share is spent or it is gone."""
        if not self._send("take"):
            return False
        try:
            while not self.conn.poll(0.5):
                if os.getppid() != self.parent or interrupt.requested:
                    return False
            return bool(self.conn.recv())
        except (EOFError, OSError):
            return False

    def give_back(self) -> None:
        self._send("back")

    def put(self, why: str) -> None:
        """A storage failure's one line, for the launcher to say."""
        self._send("failed", why)


def die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


#: a worker's exit status when its storage failed under it (a full disk, a damaged file): the
#: launcher replaces no worker, lets the others finish their trials, and says why in one line
STORAGE_FAILED = 75


def _worker(plan: Plan, index: int, conn, parent: int, budget: int) -> None:
    """One worker process: take a ticket, run one trial, until tickets run out or a stop.

    Ctrl-C (SIGINT to the process group), SIGTERM (``kill``, ``timeout``, a batch scheduler) and
    SIGHUP (a closed terminal) end it quietly with status 130. Inside the objective they
    interrupts the trial at once (Optuna marks it FAIL; the next run retries it with the same
    parameters); elsewhere (asking, telling: storage writes) it waits for that to finish, so a
    storage write is never cut in half."""
    interrupt = Interrupt()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupt.handler)
    window = TicketWindow(conn, parent)
    threading.excepthook = storage_quiet_hook(window)
    try:
        _worker_loop(plan, index, window, parent, interrupt, budget)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as e:
        if not _pass_on_storage_failure(e, window):
            raise  # not the storage: a bug shows its traceback
        sys.exit(STORAGE_FAILED)
    if interrupt.requested:
        sys.exit(130)


def storage_quiet_hook(failures):
    """A thread's exception hook for a worker: a storage failure in one of Optuna's threads
    (the heartbeat's commit on a full disk) goes to the launcher as its one line, not as a
    traceback (the next write of the worker's own thread fails too, and ends it); anything
    else is printed as Python prints it."""
    default = threading.excepthook

    def hook(args) -> None:
        if args.exc_value is None or not _pass_on_storage_failure(args.exc_value, failures):
            default(args)

    return hook


def _pass_on_storage_failure(e: BaseException, failures) -> bool:
    """Whether ``e`` is a storage failure (:func:`sweep.storage.describe_failure`); if so its
    one line goes to the launcher, which says it once (no traceback, no Optuna warning)."""
    from sweep.storage import describe_failure

    if (why := describe_failure(e)) is None:
        return False
    failures.put(why)
    return True


def _worker_loop(
    plan: Plan, index: int, tickets: TicketWindow, parent: int, interrupt: Interrupt, budget: int
) -> None:
    die_with_parent()
    import optuna

    from sweep.samplers import make_pruner, make_sampler
    from sweep.storage import PopLock, make_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("optuna.study._optimize").addFilter(optuna_log_filter)
    storage = make_storage(plan.storage)
    spec = worker_config(plan, storage)
    make_sampler(spec, seed=0)  # a sampler the file cannot have fails the worker now
    sampler = FirstTrialSeeded(lambda seed: make_sampler(spec, seed=seed), sampler_seed(plan, 0))
    study = optuna.load_study(
        study_name=plan.study, storage=storage, sampler=sampler, pruner=make_pruner(spec)
    )
    device = worker_device(plan.device, index)
    if device == "cpu":  # share the cores between the workers instead of oversubscribing them
        threads = max(1, (os.cpu_count() or 1) // max(1, plan.workers))
        os.environ["OMP_NUM_THREADS"] = str(threads)
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(threads)
    objective = Objective(spec, plan.profile, device, plan.cache_dir)
    objective.interrupt = interrupt
    objective.budget = budget
    while not interrupt.requested:
        if os.getppid() != parent:
            return  # the launcher is gone
        if not tickets.take(interrupt):
            return  # this launcher's share is spent (or it is gone)
        if study.user_attrs.get(record.STUDY_STOP):
            return
        if open_tickets(study, budget, plan.phase) <= 0:
            return  # the study's budget is spent (by any launcher)
        # Any exception fails the trial (Optuna records it), never the worker. The pop lock is
        # held until the trial is RUNNING and has claimed its replicate (sweep.engine.arms).
        objective.lost = False
        with PopLock(plan.storage) as lock:
            objective.lock = lock
            study.optimize(interrupt.guard(objective), n_trials=1, catch=(Exception,))
            objective.release()
        if objective.lost:  # nothing ran: the ticket goes back, the storage says what is left
            tickets.give_back()


#: "Trial N" of the trials that gave their ticket back, whose second log line is dropped too
_GAVE_BACK: set[str] = set()
#: "Trial N" of trials failed by their proxy task, whose second log line is dropped
_FAILED: set[str] = set()


def optuna_log_filter(rec: logging.LogRecord) -> bool:
    """Optuna logs a trial failed by Ctrl-C, or by its proxy task (:class:`TrialFailed`, whose
    reason the line carries), with its traceback and a second line: keep the one line. A trial that
    gave its budget ticket back (:class:`ClaimLost`) is not a failure: neither of the two lines
    Optuna logs for it is kept."""
    from sweep.storage import describe_failure

    trial = " ".join(str(rec.msg).split()[:2])
    if rec.exc_info and rec.exc_info[1] is not None and describe_failure(rec.exc_info[1]):
        return False  # the storage failed (a full disk): the worker stops, the launcher says it
    if rec.exc_info and rec.exc_info[0] is ClaimLost:
        _GAVE_BACK.add(trial)
        return False
    if trial in _GAVE_BACK and "failed with value" in str(rec.msg):
        _GAVE_BACK.discard(trial)
        return False
    if rec.exc_info and rec.exc_info[0] in (KeyboardInterrupt, TrialFailed):
        rec.exc_info, rec.exc_text = None, None  # the reason is in the line (and the trial)
    if trial in _FAILED and "failed with value" in str(rec.msg):
        _FAILED.discard(trial)
        return False
    if rec.exc_info is None and "because of the following error: TrialFailed" in str(rec.msg):
        _FAILED.add(trial)
    return True


def worker_device(device: str, index: int) -> str:
    if device == "auto":
        from sweep.devices import cuda_count

        n = cuda_count()
        return f"cuda:{index % n}" if n else "cpu"
    return device


def run_workers(plan, study, remaining, n_workers, spec, progress, budget, max_failed) -> None:
    ctx = get_context("spawn")
    desk = TicketDesk(ctx, remaining)
    parent = os.getpid()
    procs = {}
    claims = claim_budget(study, plan.phase, budget)
    failed: str | None = None  # the storage failed under a worker: why, in one line

    def start(i: int) -> None:
        p = ctx.Process(
            target=_worker, args=(plan, i, desk.connect(i), parent, claims), daemon=False
        )
        p.start()
        procs[i] = p

    for i in range(n_workers):
        start(i)
    try:
        with Progress(progress, study, budget, spec, plan.phase) as bar:
            next_orphans = time.monotonic() + 10
            while procs:
                desk.serve(0.5)
                if time.monotonic() >= next_orphans:  # trials whose worker died before
                    next_orphans += 10  # naming itself (its ticket: the death path's)
                    fail_orphans(study, only_unnamed=True)
                for i, p in list(procs.items()):
                    if p.is_alive():
                        continue
                    del procs[i]
                    desk.gone(i)
                    if p.exitcode == STORAGE_FAILED or failed:
                        # the storage failed (a full disk): no replacement, no more trials;
                        # running ones finish if they can, resume completes the rest
                        failed = failed or desk.first_failure("the study's storage failed")
                        desk.drain()
                    elif p.exitcode != 0:  # died mid-trial: fail + retry its trial, replace it
                        fail_orphans(study)
                        desk.put()
                        start(i)
                if failed:
                    continue  # (reading the storage for the bar may fail too)
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
    finally:
        desk.close()
    if failed:
        from sweep.errors import SweepError

        raise SweepError(failed.replace("'sweep resume STUDY'", f"'sweep resume {plan.study}'"))
