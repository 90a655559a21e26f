"""Section "Samples": thumbnails of the best, the worst and a spread of trials' datasets; in a
study of families, of each family's best trial, one row per family.

Imports: :mod:`reports.samples` (its constants) and :mod:`reports.sections.base`.
"""

from __future__ import annotations

from typing import Any

from reports.samples import FAMILY_TRIES, THUMB_CLASSES
from reports.sections.base import Page, Section

#: the title of a study of families (the searched parameter picks the generator)
FAMILY_TITLE = "Samples of each family, side by side (its best trial)"


def context(page: Page) -> dict[str, Any]:
    sm = page.data["samples"]
    out = {
        "sm": sm,
        "metric": page.data["objectives"][0]["name"] if not sm["reason"] else None,
        "n_classes": THUMB_CLASSES,
        "tries": FAMILY_TRIES,
    }
    if sm.get("family"):
        out["title"] = FAMILY_TITLE
    return out


SECTION = Section(
    id="samples",
    nav="Samples",
    title="Samples of the best, worst and a spread of trials",
    template="section-samples.html.j2",
    context=context,
)
