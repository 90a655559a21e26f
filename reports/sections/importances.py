"""Section "Parameter importances": Optuna's fANOVA importances plot, one per objective, with
each parameter's permutation null (:mod:`reports.view`): a table of the raw importance (the
share of the objective's variance its main effect explains) next to the null's 95th
percentile, and below it, "not distinguishable from noise".

Imports: the standard library and :mod:`reports.sections.base`.
"""

from __future__ import annotations

from typing import Any

from reports.sections.base import Page, Section


def null_rows(imp: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per objective and parameter, most important first."""
    rows = []
    for obj, raw in imp.get("raw", {}).items():
        null = imp.get("null", {}).get(obj, {})
        norm = imp["by_objective"].get(obj, {})
        for name, v in sorted(raw.items(), key=lambda kv: -kv[1]):
            p95 = null.get(name)
            rows.append(
                {
                    "objective": obj,
                    "param": name,
                    "importance": norm.get(name),
                    "raw": v,
                    "null": p95,
                    "noise": p95 is not None and v <= p95,
                }
            )
    return rows


def context(page: Page) -> dict[str, Any]:
    imp = page.data["importances"]
    return {
        "names": [k for k in page.figs if k.startswith("importances")],
        "computed": not imp["reason"],
        "null_info": imp.get("null_info"),
        "fit": imp.get("fit"),
        "rows": null_rows(imp) if not imp["reason"] and imp.get("null_info") else [],
    }


SECTION = Section(
    id="importances",
    nav="Importances",
    title="Parameter importances",
    template="section-importances.html.j2",
    context=context,
)
