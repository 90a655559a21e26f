"""Section "Parameter importances": Optuna's fANOVA importances plot, one per objective.

Imports: :mod:`reports.sections.base`.
"""

from __future__ import annotations

from typing import Any

from reports.sections.base import Page, Section


def context(page: Page) -> dict[str, Any]:
    return {
        "names": [k for k in page.figs if k.startswith("importances")],
        "computed": not page.data["importances"]["reason"],
    }


SECTION = Section(
    id="importances",
    nav="Importances",
    title="Parameter importances",
    template="section-importances.html.j2",
    context=context,
)
