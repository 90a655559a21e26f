"""Section "Optimisation history" (single-objective studies): Optuna's history plot.

Imports: :mod:`reports.sections.base`.
"""

from __future__ import annotations

from reports.sections.base import Page, Section


def applies(page: Page) -> bool:
    return not page.multi


SECTION = Section(
    id="history",
    nav="History",
    title="Optimisation history",
    template="section-figure.html.j2",
    context=lambda page: {"name": "history", "click": False},
    applies=applies,
)
