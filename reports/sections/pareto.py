"""Section "Pareto front" (studies with 2 or 3 objectives): Optuna's Pareto-front plot.

Imports: :mod:`reports.sections.base`.
"""

from __future__ import annotations

from reports.sections.base import Page, Section


def applies(page: Page) -> bool:
    return page.multi


SECTION = Section(
    id="pareto",
    nav="Pareto front",
    title="Pareto front",
    template="section-figure.html.j2",
    context=lambda page: {"name": "pareto", "click": False},
    applies=applies,
)
