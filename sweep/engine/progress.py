"""The launcher's progress: trials done, pruned, failed, running, the best so far, and an ETA.

On a terminal a live bar (rich) redraws itself in place, with what each running trial is
doing (its phase and epoch, ``#12 pretrain 5/20``) and rich's time estimate; when stdout is a
file or a pipe (a log, ``nohup``, a batch scheduler, CI) there is no bar and no carriage return,
only one plain line when the run starts and one each time a trial finishes, with the elapsed
time and the estimated time left:

    sweep: freq: 3/16 trials (complete 2, pruned 0, failed 1, running 2) best #0 headline=61.2;
    0:02:10 elapsed, about 0:07:03 left   (one line)

Imports: the standard library, rich (lazily), :mod:`sweep.record` and
:mod:`sweep.engine.study`.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from sweep import record
from sweep.engine.study import best_summary, counts, used_budget


def finished_confirm(study) -> int:
    """Confirmation trials that finished (complete, pruned or failed)."""
    return sum(
        t.state.name in ("COMPLETE", "PRUNED", "FAIL")
        and record.arm_of(t.user_attrs) == record.ARM_CONFIRM
        for t in study.get_trials(deepcopy=False)
    )


def clock(seconds: float) -> str:
    """``0:07:03``: hours, minutes, seconds."""
    s = max(0, round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def eta(elapsed: float, finished: int, left: int) -> float | None:
    """Seconds left at the rate of the trials finished so far in this run (None before the
    first one finishes: no rate yet)."""
    if finished <= 0:
        return None
    return elapsed / finished * max(0, left)


def running_text(study, shown: int = 3) -> str:
    """``#12 pretrain 5/20; #13 evaluate 1/2``: what the running trials are doing (their
    :data:`sweep.record.PROGRESS`), the first ``shown`` of them."""
    from optuna.trial import TrialState

    parts = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if text := record.progress_text(t.user_attrs.get(record.PROGRESS)):
            parts.append(f"#{t.number} {text}")
    more = f" (+{len(parts) - shown} more)" if len(parts) > shown else ""
    return "; ".join(parts[:shown]) + more


def is_terminal(stream: TextIO) -> bool:
    """Whether ``stream`` is a terminal a live bar can redraw (rich's own test, so
    ``FORCE_COLOR``/``TTY_COMPATIBLE`` and Jupyter count as it counts them)."""
    from rich.console import Console

    return Console(file=stream).is_terminal


class Progress:
    """``phase`` ``search``: the search budget used; ``confirm``: the round's cells done.

    ``enabled`` False prints nothing; ``live`` None picks the bar on a terminal stdout and plain
    lines otherwise."""

    def __init__(
        self,
        enabled: bool,
        study,
        budget: int,
        spec,
        phase: str = "search",
        *,
        live: bool | None = None,
        stream: TextIO | None = None,
        width: int | None = None,
    ) -> None:
        self.enabled, self.study, self.budget, self.spec = enabled, study, budget, spec
        self.phase = phase
        self.stream = stream
        self.live = live
        self.width = width  # (the terminal's when None; a test renders at a fixed width)
        self.last: tuple | None = None

    def __enter__(self):
        if not self.enabled:
            return self
        stream = self.stream or sys.stdout
        if self.live is None:
            self.live = is_terminal(stream)
        self.t0 = time.monotonic()
        self.start = finished_confirm(self.study) if self.phase == "confirm" else 0
        self.first = self.done()  # finished before this run: not part of its rate
        self.name = self.study.study_name + (" (confirmation)" if self.phase == "confirm" else "")
        if self.live:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )
            from rich.table import Column

            # What matters first, so that 80 columns show it: x/N, a short bar, the ETA, then
            # the phase and what the running trials do; counts, best and the study name last,
            # cut with an ellipsis when the line is full.
            self.p = Progress(
                MofNCompleteColumn(),
                BarColumn(bar_width=12),
                TimeRemainingColumn(),
                TextColumn(
                    "{task.fields[info]}",
                    table_column=Column(ratio=1, no_wrap=True, overflow="ellipsis"),
                ),
                console=Console(file=stream, width=self.width),
                expand=True,
            )
            self.p.__enter__()
            self.task = self.p.add_task(
                self.name, total=self.budget, info="", completed=min(self.first, self.budget)
            )
        self.update()
        return self

    def done(self) -> int:
        if self.phase == "confirm":
            return finished_confirm(self.study) - self.start
        return used_budget(self.study)

    def update(self) -> None:
        if not self.enabled:
            return
        c = counts(self.study)
        best = best_summary(self.study, self.spec)
        done = min(self.done(), self.budget)
        if self.live:
            self.p.update(self.task, completed=done, info=self.live_info(c, best))
            return
        key = (done, c["COMPLETE"], c["PRUNED"], c["FAIL"])
        if key == self.last:  # a line when a trial finishes, not every poll
            return
        self.last = key
        elapsed = time.monotonic() - self.t0
        left = eta(elapsed, done - self.first, self.budget - done)
        when = f"{clock(elapsed)} elapsed" + (f", about {clock(left)} left" if left else "")
        line = (
            f"sweep: {self.name}: {done}/{self.budget} trials (complete {c['COMPLETE']}, "
            f"pruned {c['PRUNED']}, failed {c['FAIL']}, running {c['RUNNING']})"
            + (f" best {best}" if best else "")
            + f"; {when}"
        )
        stream = self.stream or sys.stdout
        print(line, file=stream, flush=True)

    def live_info(self, c: dict, best: str) -> str:
        """The live bar's text after x/N, the bar and the ETA: phase, running trials' phases,
        counts, the search's best so far (not the answer: unconfirmed), the study's name."""
        parts = [self.phase]
        if doing := running_text(self.study):
            parts.append(doing)
        parts.append(
            f"done {c['COMPLETE']} pruned {c['PRUNED']} failed {c['FAIL']} run {c['RUNNING']}"
        )
        if best:
            parts.append(f"top {best} (search)")
        parts.append(self.study.study_name)
        return " | ".join(parts)

    def __exit__(self, *exc):
        if self.enabled:
            if exc[0] is None:
                self.update()
            if self.live:
                self.p.__exit__(*exc)
        return False
