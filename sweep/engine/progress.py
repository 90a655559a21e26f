"""The launcher's progress bar (rich): trials done, pruned, failed, running, the best so far.

Imports: rich (lazily) and :mod:`sweep.engine.study`.
"""

from __future__ import annotations

from sweep.engine.study import best_summary, counts, used_budget


class Progress:
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
        self.p.update(self.task, completed=min(used_budget(self.study), self.budget), info=info)

    def __exit__(self, *exc):
        if self.enabled:
            self.update()
            self.p.__exit__(*exc)
        return False
