"""Section "Range pairs" (studies that search an ``int_range``/``float_range``): per range pair,
its (min, max) plane with the impossible half greyed out and the first objective against the
band's width, the published configuration marked and the reference arms as lines; and, once,
what Optuna's internal ``<name>.span`` is (:func:`reports.ranges.span_note`).

Imports: :mod:`reports.ranges` and :mod:`reports.sections.base`.
"""

from __future__ import annotations

from typing import Any

from reports.ranges import span_note
from reports.sections.base import Page, Section


def applies(page: Page) -> bool:
    return bool((page.data.get("ranges") or {}).get("pairs"))


def context(page: Page) -> dict[str, Any]:
    pairs = page.data["ranges"]["pairs"]
    return {
        "pairs": [
            {
                "param": p["param"],
                "low": p["low"],
                "high": p["high"],
                "min_width": p["min_width"],
                "n": len(p["points"]),
                "published": p["published"],
                "plane": f"range:{p['param']}",
                "width": f"range-width:{p['param']}",
            }
            for p in pairs
        ],
        "metric": pairs[0]["metric"],
        "span_note": span_note(pairs[0]["param"]),
    }


SECTION = Section(
    id="ranges",
    nav="Range pairs",
    title="Range pairs: the (min, max) plane",
    template="section-ranges.html.j2",
    context=context,
    applies=applies,
)
