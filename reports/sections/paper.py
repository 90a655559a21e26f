"""Section "Published results": the proxy's decisions set beside a published table's.

Shown when a published table applies to the study (:func:`sweep.paper.check`, the report data's
``paper``): VisualAtom's frequency-band ablation or the family comparison (CIFAR-100, ViT-Tiny,
1k classes). One table of the rows (published accuracy, the configuration that stands for it,
the proxy's mean and seeds), one of the pairs (the published difference, the proxy's paired
difference with its Bonferroni interval, its decision at the smallest effect and the outcome,
coloured: same, undecided, contradicted, not measured), the baseline pairs (scratch) when the
table has one, the outcome counts and Spearman's rho of the means with the published numbers.

Imports: the standard library, :mod:`reports.text` and :mod:`reports.sections.base`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reports.sections.base import Page, Section
from reports.text import num

#: the colour of each outcome (the answer's verdict palette)
COLOURS = {
    "same": "#2c7a3f",
    "undecided": "#8a5a00",
    "contradicted": "#9b2c2c",
    "not measured": "#777",
}


def signed(v: Any) -> str:
    """``+0.6`` of a number (3 significant digits), empty for None."""
    return f"{v:+.3g}" if isinstance(v, int | float) and not isinstance(v, bool) else ""


def interval(ci: Sequence[float] | None) -> str:
    """``[-0.10, +0.19]`` of an interval, empty for None."""
    if not ci:
        return ""
    return f"[{signed(ci[0])}, {signed(ci[1])}]"


def pair_rows(pairs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The pairs as the template's rows: texts and the outcome's colour."""
    return [
        {
            "a": p["a"],
            "b": p["b"],
            "published": signed(p["published_diff"]),
            "proxy": signed(p.get("diff")),
            "ci": interval(p.get("ci")),
            "seeds": p.get("seeds"),
            "decision": p.get("decision") or "",
            "outcome": p["outcome"],
            "colour": COLOURS.get(p["outcome"], "#777"),
        }
        for p in pairs
    ]


def count_text(c: Mapping[str, Any] | None) -> str | None:
    """``4 same, 2 undecided, 0 contradicted, 9 not measured of 15 pairs``."""
    if not c or not c.get("pairs"):
        return None
    return (
        f"{c['same']} same, {c['undecided']} undecided, {c['contradicted']} contradicted, "
        f"{c['not_measured']} not measured of {c['pairs']} pairs"
    )


def context(page: Page) -> dict[str, Any]:
    p = page.data["paper"]
    s = p["summary"]
    rho, n = s["spearman"]["rho"], s["spearman"]["n"]
    level, base_level = p.get("level"), p.get("baseline_level")
    large = s["large"]
    rows = [
        {**r, "mean_text": num(r["mean"]) if r["mean"] is not None else "not run"}
        for r in p["rows"]
    ]
    decided = None
    if large["pairs"]:
        decided = f"{large['decided']} of {large['pairs']} decided ({count_text(large)})"
    return {
        "p": p,
        "source": p.get("source") or {},
        "rows": rows,
        "pairs": pair_rows(p["pairs"]),
        "baseline": pair_rows(p.get("baseline_pairs") or []),
        "counts": count_text(s),
        "large": decided,
        "baseline_counts": count_text(s.get("baseline")),
        "spearman": f"{rho:.2f}" if isinstance(rho, int | float) else "not defined",
        "n": n,
        "level": f"{level * 100:.3g}%" if level else None,
        "base_level": f"{base_level * 100:.3g}%" if base_level else None,
        "colours": COLOURS,
    }


def applies(page: Page) -> bool:
    return bool(page.data.get("paper"))


SECTION = Section(
    id="paper",
    nav="Published",
    title="Published results: does the proxy decide as the paper does?",
    template="section-paper.html.j2",
    context=context,
    applies=applies,
)
