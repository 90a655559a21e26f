"""The Jinja2 environment of the report's page: ``reports/templates/``, autoescaped.

Filters: ``num`` (a float to significant digits), ``fmt_ci`` (rho with its interval),
``params`` (searched values as text); globals: ``plotly_div`` (a figure as a ``<div>`` of
plotly JSON, plotly.js not included) and ``asset`` (a CSS or JS file of the templates folder,
verbatim). The markup itself lives in the templates; ``macros.html.j2`` has the shared pieces
(a reason box, a trial link, a figure).

Imports: the standard library, jinja2, markupsafe and :mod:`reports.text`.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from reports.text import fmt_ci, num, params_text

TEMPLATES = Path(__file__).with_name("templates")


def div_id(name: str) -> str:
    """The ``id`` of figure ``name``'s div: ``fig-`` and the name with odd characters as ``-``."""
    return "fig-" + re.sub(r"[^A-Za-z0-9_-]", "-", name)


def plotly_div(fig: Any, name: str, height: int | None = None) -> Markup:
    """The figure as a ``<div>`` with its plotly JSON (plotly.js is inlined once per page)."""
    return Markup(
        fig.to_html(
            full_html=False,
            include_plotlyjs=False,
            div_id=div_id(name),
            config={"displaylogo": False, "responsive": True},
            default_height=height or fig.layout.height or 450,
        )
    )


def asset(name: str) -> Markup:
    """A CSS or JS file of the templates folder, verbatim (no template syntax in it)."""
    return Markup((TEMPLATES / name).read_text(encoding="utf-8").strip())


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(num=num, fmt_ci=fmt_ci, params=params_text)
    env.globals.update(plotly_div=plotly_div, asset=asset)
    return env


def render(template: str, **context: Any) -> Markup:
    """``template`` rendered with ``context``, as markup (surrounding whitespace stripped)."""
    return Markup(environment().get_template(template).render(**context).strip())
