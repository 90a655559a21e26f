"""Design-space reports: ``sweep report STUDY`` writes one self-contained HTML file per study.

The package, split by concern as Optuna's ``visualization`` is (``_get_X_info`` returns the data,
``plot_X`` draws it):

* data (plain dicts and lists, typed as ``TypedDict``s): :mod:`reports.data` (:func:`report_data`,
  the one entry point), :mod:`reports.answer` (the study's answer to its question, first on the
  page), :mod:`reports.references` (the published configuration's and scratch's means),
  :mod:`reports.study` (summary, trial rows, searched-value columns), :mod:`reports.ranges`
  (the range pairs' (min, max) planes),
  :mod:`reports.correlations` (diversity against accuracy), :mod:`reports.outcomes` (replicates,
  learning curves, failures), :mod:`reports.samples` (thumbnails), :mod:`reports.view` (the view
  study, importances and their permutation null);
* figures: :mod:`reports.figures` (plotly);
* the page: :mod:`reports.page` (:func:`render_html`) renders ``reports/templates/`` (Jinja2,
  autoescaped; :mod:`reports.templating`) with the sections of :mod:`reports.sections`, one
  module per section, in page order;
* the command: :mod:`reports.command` (:func:`write_report`, the dashboard figures and note).

``reports/README.md`` documents the sections. The statistics are :mod:`sweep.stats`.

Imports: the modules of this package may import ``sweep.*`` (record, values, storage, stats,
seeding, dataset, errors, registry, calibration.summary; engine and answer lazily); nothing in
``sweep`` or ``proxy_tasks`` imports this package except ``sweep report``'s command (lazily), so
the import graph stays acyclic.
"""

from __future__ import annotations

from reports.command import (
    attach_to_dashboard,
    dashboard_figures,
    dashboard_note,
    write_report,
)
from reports.correlations import N_BOOT, correlation, diversity_names
from reports.data import report_data
from reports.figures import (
    MAX_CONTOUR_PARAMS,
    diversity_figure,
    figures,
    learning_figure,
    replicate_figure,
)
from reports.page import render_html
from reports.samples import THUMB_CLASSES, THUMB_PX, dataset_spec, thumbnails
from reports.sections.calibration import calibration_section, report_section
from reports.view import view_study
from sweep.stats import partial_spearman
from sweep.stats import spearman_value as spearman

__all__ = [
    "MAX_CONTOUR_PARAMS",
    "N_BOOT",
    "THUMB_CLASSES",
    "THUMB_PX",
    "attach_to_dashboard",
    "calibration_section",
    "correlation",
    "dashboard_figures",
    "dashboard_note",
    "dataset_spec",
    "diversity_figure",
    "diversity_names",
    "figures",
    "learning_figure",
    "partial_spearman",
    "render_html",
    "replicate_figure",
    "report_data",
    "report_section",
    "spearman",
    "thumbnails",
    "view_study",
    "write_report",
]
