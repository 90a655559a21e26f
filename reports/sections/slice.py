"""Section "Slice and contour plots": Optuna's slice plot of every resolved searched value and
the contour matrix of the (up to 4) most important.

Imports: :mod:`reports.sections.base`.
"""

from __future__ import annotations

from typing import Any

from reports.sections.base import Page, Section


def context(page: Page) -> dict[str, Any]:
    # the same reason twice (no completed trials, say) is said once
    return {"contour": page.figs.get("contour") != page.figs.get("slice")}


SECTION = Section(
    id="slice",
    nav="Slice & contour",
    title="Slice and contour plots",
    template="section-slice.html.j2",
    context=context,
)
