"""The report's sections, in page order: one module per section, each with a ``SECTION``.

A new section is one module here (a :class:`~reports.sections.base.Section`: id, nav label,
title, template, ``applies(page)`` and ``context(page)``), one template in
``reports/templates/`` and its name in :data:`ORDER`. The modules are imported on first use
through :class:`sweep.registry.Registry`.

Imports: :mod:`sweep.registry` and :mod:`reports.sections.base` (the section modules lazily).
"""

from __future__ import annotations

from reports.sections.base import Page, Section
from sweep.registry import Registry

#: the sections in page order
ORDER = (
    "answer",
    "paper",
    "summary",
    "ranges",
    "samples",
    "diversity",
    "importances",
    "parallel",
    "slice",
    "pareto",
    "history",
    "learning",
    "replicates",
    "noise",
    "calibration",
    "trials",
    "failures",
)

REGISTRY: Registry[Section] = Registry("report section")
for _name in ORDER:
    REGISTRY.register(_name, f"{__name__}.{_name}:SECTION")


def sections() -> list[Section]:
    """Every section, in page order."""
    return [REGISTRY.get(name) for name in ORDER]


__all__ = ["ORDER", "REGISTRY", "Page", "Section", "sections"]
