"""Section "Failed and pruned trials": state, error type, reason, retry links, searched values,
seconds and worker of every failed or pruned trial.

Imports: :mod:`reports.sections.base`.
"""

from __future__ import annotations

from reports.sections.base import Section

SECTION = Section(
    id="failures",
    nav="Failed & pruned",
    title="Failed and pruned trials",
    template="section-failures.html.j2",
    context=lambda page: {"failures": page.data["failures"]},
)
