"""``sweep report``: write a study's report, and attach its key figures for the dashboard.

:func:`write_report` is what the command runs: it checks the storage and the output path first
(one :class:`~sweep.errors.SweepError` line each, nothing written), reads the study, writes the
page atomically and, unless told not to, stores the diversity scatters, the range pairs'
figures, replicate spread, learning curves and a Markdown note (which explains a range pair's
``<name>.span``, the name the dashboard shows) in the study for optuna-dashboard
(:func:`attach_to_dashboard`; stable graph ids, so a new report replaces them).

Imports: the standard library, optuna-dashboard (lazily), :mod:`sweep.engine` (lazily),
:mod:`sweep.errors`, :mod:`sweep.storage` and the ``reports`` modules.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reports.answer import markdown as answer_markdown
from reports.data import report_data
from reports.figures import figures
from reports.page import render_html
from reports.ranges import span_note
from reports.sections.calibration import calibration_section
from reports.text import fmt_ci, params_text
from sweep.errors import SweepError
from sweep.storage import default_storage, mask_url, normalize_storage


def dashboard_figures(figs: Mapping[str, Any]) -> dict[str, Any]:
    """The figures worth attaching for optuna-dashboard (which draws the Optuna ones itself):
    the diversity scatters, the range pairs' planes and widths, replicate spread and learning
    curves; ``{graph id: figure}``."""
    out = {}
    for name, fig in figs.items():
        if isinstance(fig, str):
            continue
        if name.startswith(("diversity:", "range:", "range-width:")) or name in (
            "replicates",
            "learning",
        ):
            out["sweep-" + re.sub(r"[^A-Za-z0-9_.-]", "-", name.replace(":", "-"))] = fig
    return out


def dashboard_note(data: Mapping[str, Any], path: str | None) -> str:
    """A Markdown note for the dashboard: the answer first (the verdict and the one-sentence
    answer, as the report opens), then the question, counts, best trials and the diversity
    correlations, what a range pair's ``<name>.span`` (the dashboard's parameter) is, and where
    the full report is."""
    s = data["summary"]
    c = s["counts"]
    lines = [*answer_markdown(data["answer"]), f"## sweep report: {s['name']}", ""]
    if s["question"]:
        lines += [f"**Question:** {s['question']}", ""]
    lines += [
        f"{s['n_trials']} trials: {c['COMPLETE']} complete, {c['PRUNED']} pruned, "
        f"{c['FAIL']} failed.",
        "",
    ]
    rows = {r["number"]: r for r in data["trials"]}
    if data["best"]:
        lines += ["| best trial | values | searched values |", "|---|---|---|"]
        for n in data["best"][:5]:
            r = rows[n]
            vals = ", ".join(f"{v:.4g}" for v in r["values"])
            lines.append(f"| {n} | {vals} | {params_text(r['params'])} |")
        lines.append("")
    dv = data["diversity"]
    if dv["correlations"]:
        lines += [
            f"| diversity metric | Spearman ρ with {dv['y']} [95% CI] | partial ρ |",
            "|---|---|---|",
        ]
        for corr in dv["correlations"]:
            p = corr["partial"] or {}
            lines.append(
                f"| {corr['x']} | {fmt_ci(corr['rho'], corr['ci'])} | "
                f"{fmt_ci(p.get('rho'), p.get('ci'))} |"
            )
        lines.append("")
    elif dv["reason"]:
        lines += [f"Diversity: {dv['reason']}.", ""]
    pairs = (data.get("ranges") or {}).get("pairs") or []
    if pairs:
        lines += [f"**Parameter names.** {span_note(pairs[0]['param'])}", ""]
    if path:
        lines.append(f"Full report (samples, every plot, failures): `{path}`")
    return "\n".join(lines) + "\n"


def attach_to_dashboard(
    study, data: Mapping[str, Any], figs: Mapping[str, Any], path: str | None
) -> list:
    """Store the key figures and a note in the study for optuna-dashboard (overwrites the
    previous report's figures: stable graph ids). Returns the graph ids."""
    from optuna_dashboard import save_note, save_plotly_graph_object

    ids = []
    for gid, fig in dashboard_figures(figs).items():
        save_plotly_graph_object(study, fig, graph_object_id=gid)
        ids.append(gid)
    save_note(study, dashboard_note(data, path))
    return ids


def check_storage(storage: str | None) -> str:
    """The storage URL; a file storage that does not exist is an error (not a new file)."""
    url = normalize_storage(storage) if storage else default_storage("")
    for scheme in ("sqlite:///", "journal://"):
        if url.startswith(scheme):
            path = Path(url[len(scheme) :])
            if not path.is_file():
                raise SweepError(
                    f"no study database at {mask_url(url)}; name one with "
                    "--storage (a .db or .log file, or a URL)"
                )
    return url


def check_out(out: str | None, study: str) -> Path:
    """Where the report goes: a file, or STUDY.html in a directory; must be writable."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", study).strip(".") or "study"
    path = Path(out) if out else Path("runs") / "reports" / f"{safe}.html"
    if path.is_dir() or (out and out.endswith(os.sep)):
        path = path / f"{safe}.html"
    if path.exists() and (path.is_dir() or not os.access(path, os.W_OK)):
        raise SweepError(f"-o {out}: cannot write {path} (not a writable file)")
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise SweepError(
            f"-o {out or path}: cannot write under {parent} (not a writable "
            "directory); choose another -o"
        )
    return path


def write_report(
    name: str,
    storage: str | None = None,
    out: str | None = None,
    *,
    dashboard: bool = True,
    seed: int = 0,
) -> dict[str, Any]:
    """``sweep report``: build the report of study ``name``, write it (atomically) and, unless
    ``dashboard=False``, attach the key figures and a note to the study."""
    from sweep.engine import load_study_by_name

    url = check_storage(storage)
    study = load_study_by_name(name, url)
    path = check_out(out, name)
    data = report_data(study, seed=seed)
    figs = figures(data)
    page = render_html(data, figs, calibration=calibration_section(study))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(page, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise SweepError(f"cannot write {path}: {e.strerror or e}") from None
    ids = attach_to_dashboard(study, data, figs, str(path.resolve())) if dashboard else []
    return {
        "path": str(path),
        "bytes": path.stat().st_size,
        "dashboard": ids,
        "counts": data["summary"]["counts"],
    }
