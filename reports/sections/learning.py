"""Section "Learning curves": the pre-training loss per epoch and replicate of every trial,
coloured by state; a click on a curve opens its trial's row.

Imports: :mod:`reports.sections.base`.
"""

from __future__ import annotations

from reports.sections.base import Section

SECTION = Section(
    id="learning",
    nav="Learning curves",
    title="Learning curves",
    template="section-figure.html.j2",
    context=lambda page: {"name": "learning", "click": True},
)
