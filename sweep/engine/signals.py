"""Signals in a worker: Ctrl-C that never cuts a storage write, and the per-trial timeout.

Imports: the standard library and :mod:`sweep.record`.
"""

from __future__ import annotations

import contextlib

from sweep import record


class Interrupt:
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
                mark_interrupted(trial)
                raise KeyboardInterrupt
            return objective(trial)

        return run


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
    trial.set_user_attr("error", "interrupted (Ctrl-C); the next run retries it")
