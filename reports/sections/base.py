"""What a report section is: :class:`Section` (id, nav label, title, template, and the two
functions ``applies(page)`` and ``context(page)``), and :class:`Page`, what they read.

Imports: the standard library only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Page:
    """The inputs of the page: the report's data, its figures by name (a string instead of a
    figure says why it is missing) and the calibration section, when there is one."""

    data: Mapping[str, Any]
    figs: Mapping[str, Any]
    calibration: Mapping[str, Any] | None = None

    @property
    def multi(self) -> bool:
        """Several objectives (a Pareto front instead of a history)."""
        return len(self.data["objectives"]) > 1


def always(page: Page) -> bool:
    return True


def nothing(page: Page) -> dict[str, Any]:
    return {}


@dataclass(frozen=True)
class Section:
    """One ``<section id=...>`` of the page.

    ``template`` (in ``reports/templates/``) is rendered with ``page`` and ``context(page)``;
    a ``title`` in that context replaces :attr:`title`. ``applies(page)`` False leaves the
    section (and its nav link) out."""

    id: str
    nav: str
    title: str
    template: str
    context: Callable[[Page], Mapping[str, Any]] = field(default=nothing)
    applies: Callable[[Page], bool] = field(default=always)
