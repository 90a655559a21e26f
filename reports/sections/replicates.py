"""Section "Replicate spread and effect sizes": per configuration, seeds, mean and seed std of
the first objective, the gap to the best (paired on common seeds where it can be, else
unpaired), in units of the pooled seed std, and its MDD.

Imports: :mod:`reports.sections.base`.
"""

from __future__ import annotations

from typing import Any

from reports.sections.base import Page, Section


def _noise(i: int, c: dict[str, Any]) -> str:
    if i == 0:
        return "best"
    return "tie" if c["within_noise"] else ""


def _paired(c: dict[str, Any]) -> str:
    """The paired seeds of the gap, "unpaired" (no 2 seeds in common with the best), or ""
    (the best itself; an older report's data)."""
    if c.get("paired"):
        return str(c["paired_seeds"])
    return "unpaired" if c.get("paired") is False else ""


def context(page: Page) -> dict[str, Any]:
    rep = page.data["replicates"]
    return {
        "rep": rep,
        "noise": [_noise(i, c) for i, c in enumerate(rep["configs"])],
        "paired": [_paired(c) for c in rep["configs"]],
    }


SECTION = Section(
    id="replicates",
    nav="Replicates",
    title="Replicate spread and effect sizes",
    template="section-replicates.html.j2",
    context=context,
)
