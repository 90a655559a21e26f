"""Section "Diversity vs downstream accuracy": the headline scatters and a table of every
diversity metric's Spearman rho, bootstrap interval and partial rho on the complexity controls.

Imports: :mod:`reports.correlations` (its constants) and :mod:`reports.sections.base`.
"""

from __future__ import annotations

from typing import Any

from reports.correlations import N_BOOT
from reports.sections.base import Page, Section


def context(page: Page) -> dict[str, Any]:
    dv = page.data["diversity"]
    rows = []
    for c in dv["correlations"]:
        p = c["partial"] or {}
        rows.append(
            {
                "x": c["x"],
                "kind": "headline" if c["headline"] else ("control" if c["control"] else ""),
                "n": c["n"],
                "rho": (c["rho"], c["ci"]),
                "partial": (p.get("rho"), p.get("ci")),
                "note": c["reason"] or p.get("reason") or "",
            }
        )
    return {
        "dv": dv,
        "n_boot": N_BOOT,
        "heads": [f"diversity:{k}" for k in dv["headline"]],
        "rows": rows,
    }


SECTION = Section(
    id="diversity",
    nav="Diversity",
    title="Diversity vs downstream accuracy",
    template="section-diversity.html.j2",
    context=context,
)
