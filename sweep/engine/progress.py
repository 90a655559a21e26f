"""The launcher's progress bar (rich): trials done, pruned, failed, running, the best so far.

Imports: rich (lazily), :mod:`sweep.record` and :mod:`sweep.engine.study`.
"""

from __future__ import annotations

from sweep import record
from sweep.engine.study import best_summary, counts, used_budget


def finished_confirm(study) -> int:
    """Confirmation trials that finished (complete, pruned or failed)."""
    return sum(t.state.name in ("COMPLETE", "PRUNED", "FAIL")
               and record.arm_of(t.user_attrs) == record.ARM_CONFIRM
               for t in study.get_trials(deepcopy=False))  # fmt: skip


class Progress:
    """``phase`` ``search``: the search budget used; ``confirm``: the round's cells done."""

    def __init__(self, enabled: bool, study, budget: int, spec, phase: str = "search") -> None:
        self.enabled, self.study, self.budget, self.spec = enabled, study, budget, spec
        self.phase = phase

    def __enter__(self):
        if self.enabled:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            self.start = finished_confirm(self.study) if self.phase == "confirm" else 0
            self.p = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                              MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                              TimeElapsedColumn())  # fmt: skip
            self.p.__enter__()
            name = self.study.study_name + (" (confirmation)" if self.phase == "confirm" else "")
            self.task = self.p.add_task(name, total=self.budget, info="")
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
        info = (f"done {c['COMPLETE']} pruned {c['PRUNED']} failed {c['FAIL']} "
                f"running {c['RUNNING']}" + (f" | best {best}" if best else ""))  # fmt: skip
        self.p.update(self.task, completed=min(self.done(), self.budget), info=info)

    def __exit__(self, *exc):
        if self.enabled:
            self.update()
            self.p.__exit__(*exc)
        return False
