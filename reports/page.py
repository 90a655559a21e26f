"""The report's page: one self-contained HTML file from the data and the figures.

:func:`render_html` renders ``templates/report.html.j2`` (autoescaped Jinja2) with every
section of :mod:`reports.sections` that applies, plotly.js inlined once, the figures as plotly
JSON, the thumbnails as PNG data URLs and the data (without the images) as JSON in
``<script id="sweep-report-data">``: it opens offline in any browser.

Imports: the standard library, plotly (lazily), :mod:`reports.sections` and
:mod:`reports.templating`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from markupsafe import Markup

from reports.sections import Page, sections
from reports.templating import render


def json_for_page(data: Mapping[str, Any]) -> str:
    """The data as JSON for a ``<script>`` element: no images, no ``</``."""
    slim = dict(data)
    slim["samples"] = {
        **data["samples"],
        "rows": [{k: v for k, v in r.items() if k != "images"} for r in data["samples"]["rows"]],
    }
    text = json.dumps(slim, default=str, separators=(",", ":"))
    return text.replace("</", "<\\/")


def render_html(
    data: Mapping[str, Any], figs: Mapping[str, Any], *, calibration: Mapping | None = None
) -> str:
    """The report as one HTML page: plotly.js inlined once, figures as plotly JSON, thumbnails
    as PNG data URLs. Opens offline in any browser. ``calibration`` is the calibration
    section (:func:`reports.sections.calibration.calibration_section`), if any."""
    from plotly.offline import get_plotlyjs

    page = Page(data, figs, calibration)
    shown = []
    for sec in sections():
        if not sec.applies(page):
            continue
        context = dict(sec.context(page))
        title = context.pop("title", sec.title)
        body = render(sec.template, page=page, **context)
        shown.append({"id": sec.id, "nav": sec.nav, "title": title, "body": body})
    html = render(
        "report.html.j2",
        page=page,
        sections=shown,
        plotlyjs=Markup(get_plotlyjs()),
        data_json=Markup(json_for_page(data)),
    )
    return html + "\n"
