"""Section "Samples": thumbnails of the best, the worst and a spread of trials' datasets.

Imports: :mod:`reports.samples` (its constants) and :mod:`reports.sections.base`.
"""

from __future__ import annotations

from typing import Any

from reports.samples import THUMB_CLASSES
from reports.sections.base import Page, Section


def context(page: Page) -> dict[str, Any]:
    sm = page.data["samples"]
    return {
        "sm": sm,
        "metric": page.data["objectives"][0]["name"] if not sm["reason"] else None,
        "n_classes": THUMB_CLASSES,
    }


SECTION = Section(
    id="samples",
    nav="Samples",
    title="Samples of the best, worst and a spread of trials",
    template="section-samples.html.j2",
    context=context,
)
