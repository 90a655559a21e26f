"""Signals in a worker: Ctrl-C that never cuts a storage write, stops quietly and promptly, and
the per-trial timeout.

Imports: the standard library and :mod:`sweep.record`.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import threading

from sweep import record


class Interrupt:
    """SIGINT in a worker: a KeyboardInterrupt while the proxy computes, a flag elsewhere.

    Storage writes (Optuna's ask and tell, the trial's attributes, intermediate values) are
    never cut: a SIGINT during one is raised at the next safe point, or, when the trial has
    finished computing, lets it complete and stops the worker after it."""

    def __init__(self) -> None:
        self.requested = False
        self.inside = False
        self.pending = False

    def handler(self, signum, frame) -> None:
        if self.requested and not self.pending:
            return  # the launcher passes Ctrl-C on: one interrupt is enough
        self.requested = True
        stopping()
        if self.inside:
            if in_finalizer(frame):  # raised there, it would be printed and dropped
                self.pending = True
                resend(signum)
                return
            self.pending = False
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
                mark_interrupted(trial)
                raise KeyboardInterrupt
            return objective(trial)

        return run


#: functions that run as finalizers (a weakref or garbage-collector callback, ``__del__``): an
#: exception raised in them is printed as "Exception ignored in ..." and dropped
FINALIZERS = frozenset({"__del__", "_collection_gced"})


def in_finalizer(frame, depth: int = 3) -> bool:
    """Whether the signal arrived inside a finalizer (see :data:`FINALIZERS`): the frame it
    interrupted or one of its ``depth`` callers (a finalizer's own callees)."""
    for _ in range(depth + 1):
        if frame is None:
            return False
        if frame.f_code.co_name in FINALIZERS:
            return True
        frame = frame.f_back
    return False


def resend(signum: int, delay: float = 0.05) -> None:
    """Deliver ``signum`` to this process again a moment later (outside the finalizer that
    would have swallowed the KeyboardInterrupt)."""
    timer = threading.Timer(delay, os.kill, (os.getpid(), signum))
    timer.daemon = True
    timer.start()


def stopping() -> None:
    """This process is about to stop on a signal: keep its last seconds quiet and short.

    Optuna's two warnings per cut trial ("Trial 3 failed with parameters ... KeyboardInterrupt()"
    and "... failed with value None") are dropped: the launcher's one line says what happened,
    and the trials carry ``sweep:interrupted``. The objects alive now are frozen out of the
    garbage collector (:func:`gc.freeze`): the interpreter's final collections walked the whole
    heap of torch, timm and Optuna objects, seconds per worker on 2 cores, for memory the
    exit returns anyway. Safe in a signal handler: both run between bytecodes of the main
    thread, and logging's lock is re-entrant."""
    logging.getLogger("optuna").setLevel(logging.ERROR)
    gc.freeze()


class NoInterrupt:
    """Outside a local worker (the Ray backend, tests): Ctrl-C acts as Python's default."""

    def interruptible(self):
        return contextlib.nullcontext()

    deferred = interruptible


class TrialTimeout(BaseException):
    """Raised by the timer. A BaseException, so no library's ``except Exception`` (or, as for
    TimeoutError, ``except OSError`` in the import machinery) can swallow it."""


def on_timeout(signum, frame) -> None:
    raise TrialTimeout("the trial ran past the budget's timeout_s")


def mark_interrupted(trial) -> None:
    trial.set_user_attr(record.INTERRUPTED, True)
    trial.set_user_attr(record.ERROR, "interrupted (Ctrl-C); the next run retries it")
