"""Section "Calibration" (issue 7): the proxy-fidelity summary of a calibration study.

Shown when the study carries ``sweep:calibration``: :func:`report_section` reads that summary
into ``{"title", "html", "figures"}`` (the verdict and per-level tables, rendered from
``calibration.html.j2``; the fidelity-matrix heat map, the rank bump chart across levels and the
seed-noise bars); :func:`calibration_section` is what the report calls, and turns a failure
into a section that says so instead of no report.

Imports: plotly (lazily), :mod:`sweep.record`, :mod:`sweep.calibration.summary` (its terminal
text and table rows), :mod:`reports.templating` and :mod:`reports.sections.base`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reports.sections.base import Page, Section
from reports.templating import render
from sweep import record
from sweep.calibration.summary import baseline_rows, table_rows, verdict_line


def report_section(study) -> dict[str, Any] | None:
    """The calibration section of the HTML report: ``{"title", "figures" (plotly figures: the
    fidelity matrix heat map, a rank bump chart across levels, seed-noise bars), "html" (the
    verdict and the per-level table)}``; None when the study has no ``sweep:calibration``."""
    s = study.user_attrs.get(record.STUDY_CALIBRATION)
    if not s:
        return None
    title = f"Proxy fidelity: calibration '{s['study']}' ({s['metric']}, {s['profile']} profile)"
    res = s.get("analysis")
    verdict = verdict_line(s)
    if res is None:
        html = render("calibration.html.j2", verdict=verdict, res=None)
        return {"title": title, "figures": [], "html": str(html)}
    method = (
        f"{res['n_configs']} configurations ({s['design']} design) x {len(s['levels'])} "
        f"levels x {res['n_seeds']} seeds; Spearman and Kendall tau-b of the seed means "
        f"with {int(res['interval'] * 100)}% two-stage bootstrap intervals "
        f"({res['bootstrap']} replicates: configurations, then seeds); corrected = "
        "Spearman / sqrt(split-half reliability of both levels, Spearman-Brown); MDD = "
        "2.8 sd_paired / sqrt(S), sd_paired = sqrt(2 MS_residual) of the "
        "configurations x seeds table (seeds as blocks: sweep.paired); recall and "
        "regret of each level's top picks against the target's seed means, "
        "configurations within the target's MDD counting as ties."
    )
    body = render(
        "calibration.html.j2",
        verdict=verdict,
        res=res,
        method=method,
        levels=table_rows(s),
        baselines=baseline_rows(s) if res["baselines"] else [],
        notes=s.get("notes", []),
    )
    return {"title": title, "figures": figures(s), "html": str(body)}


def figures(s: Mapping[str, Any]) -> list:
    """The fidelity-matrix heat map, the rank bump chart and the seed-noise bars of a
    calibration summary."""
    import plotly.graph_objects as go

    res = s["analysis"]
    names = res["levels"]
    mat = res["matrices"]

    def num(v):
        return float("nan") if v is None else v

    z = [[num(v) for v in row] for row in mat["corrected"]["value"]]

    def cell(a: int, b: int) -> str:
        lo, hi = num(mat["corrected"]["lo"][a][b]), num(mat["corrected"]["hi"][a][b])
        return (
            f"rho {num(mat['spearman']['value'][a][b]):.2f}<br>corrected "
            f"{num(mat['corrected']['value'][a][b]):.2f}<br>[{lo:.2f}, {hi:.2f}]"
        )

    text = [[cell(a, b) for b in range(len(names))] for a in range(len(names))]
    heat = go.Figure(
        go.Heatmap(
            z=z,
            x=names,
            y=names,
            text=text,
            texttemplate="%{text}",
            colorscale="RdBu",
            zmin=-1,
            zmax=1,
            colorbar={"title": "corrected rho"},
        )
    )
    heat.update_layout(
        title="Fidelity matrix: attenuation-corrected Spearman between levels",
        yaxis={"autorange": "reversed"},
    )
    bump = go.Figure()
    per = res["per_level"]
    sign = 1.0 if s["direction"] == "maximize" else -1.0
    used = s["configs_used"]
    ranks = []
    for row in per:  # rank 1 = best
        keys = [-sign * row["mean"][c] for c in range(len(used))]
        order = sorted(range(len(used)), key=keys.__getitem__)
        r = [0] * len(used)
        for pos, c in enumerate(order):
            r[c] = pos + 1
        ranks.append(r)
    values = {c["index"]: c["values"] for c in s["configs"]}
    for c, idx in enumerate(used):
        label = ", ".join(f"{k}={v}" for k, v in values[idx].items())
        hover = [
            f"config {idx}: {label}<br>mean {per[a]['mean'][c]:.4g}" for a in range(len(names))
        ]
        bump.add_trace(
            go.Scatter(
                x=names,
                y=[ranks[a][c] for a in range(len(names))],
                mode="lines+markers",
                name=f"config {idx}",
                hovertext=hover,
                hoverinfo="text",
            )
        )
    bump.update_layout(
        title=f"Rank of each configuration at each level (1 = best {s['metric']})",
        yaxis={"autorange": "reversed", "title": "rank"},
    )
    bars = go.Figure()
    for key, label in (
        ("sigma_seed", "seed noise (sigma_seed)"),
        ("sigma_config", "spread of configurations (sigma_config)"),
        ("mdd", "minimal detectable difference"),
    ):
        vals = [num(r[key]["value"]) for r in per]
        lo = [num(r[key]["ci"][0]) if r[key]["ci"] else float("nan") for r in per]
        hi = [num(r[key]["ci"][1]) if r[key]["ci"] else float("nan") for r in per]
        up = [h - v for h, v in zip(hi, vals, strict=True)]
        down = [v - lo_ for lo_, v in zip(lo, vals, strict=True)]
        bars.add_trace(
            go.Bar(
                x=names,
                y=vals,
                name=label,
                error_y={"type": "data", "symmetric": False, "array": up, "arrayminus": down},
            )
        )
    bars.update_layout(
        title=f"Seed noise against signal per level ({s['metric']})", barmode="group"
    )
    return [heat, bump, bars]


def calibration_section(study) -> dict[str, Any] | None:
    """The calibration section when the study carries ``sweep:calibration`` (and
    :func:`report_section` gives one); None otherwise. A failure is a section that says so."""
    if not study.user_attrs.get(record.STUDY_CALIBRATION):
        return None
    try:
        return report_section(study)
    except Exception as e:  # the report still comes out; the section says what went wrong
        return {
            "title": "Calibration",
            "reason": f"the calibration section failed: {type(e).__name__}: {e}",
        }


def context(page: Page) -> dict[str, Any]:
    cal = page.calibration or {}
    return {
        "title": str(cal.get("title") or "Calibration"),
        "reason": cal.get("reason"),
        "html": str(cal.get("html") or ""),
        "figures": {f"calibration-{i}": fig for i, fig in enumerate(cal.get("figures") or [])},
    }


def applies(page: Page) -> bool:
    return bool(page.calibration)


SECTION = Section(
    id="calibration",
    nav="Calibration",
    title="Calibration",
    template="section-calibration.html.j2",
    context=context,
    applies=applies,
)
