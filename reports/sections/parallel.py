"""Section "Parallel coordinates": Optuna's plot on the resolved searched values.

Imports: :mod:`reports.sections.base`.
"""

from __future__ import annotations

from reports.sections.base import Section

SECTION = Section(
    id="parallel",
    nav="Parallel coordinates",
    title="Parallel coordinates",
    template="section-figure.html.j2",
    context=lambda page: {"name": "parallel", "click": False},
)
