"""The report's figures: plotly figures drawn from the report's data (``plot_X`` of ``X`` info).

:func:`figures` returns every figure by name (a string instead of a figure says why it is
missing): the diversity scatters (ours), the replicate spread and the learning curves (ours),
and Optuna's own plots (importances, parallel coordinates, slice, contour, optimisation
history, Pareto front) drawn on the *view* study (:mod:`reports.view`).

Every figure that draws trials against the first objective (the diversity scatters, the
range widths, the replicate spread, the slice plot, the optimisation history) carries the
reference arms (:mod:`reports.references`) as labelled horizontal lines, shapes named
``reference:<arm>``; the diversity scatters mark each trial's arm; each range pair
(:mod:`reports.ranges`) gets its (min, max) plane with the impossible half greyed out and the
first objective against the band's width (``range:<name>``, ``range-width:<name>``), the
published configuration marked; the importances carry their permutation null's 95th percentile
(:mod:`reports.view`) as a second trace.

Imports: the standard library, plotly and Optuna (lazily), :mod:`reports.references`,
:mod:`reports.text` and :mod:`reports.view`.
"""

from __future__ import annotations

import html
import math
import warnings
from collections.abc import Callable, Mapping
from typing import Any

from reports.references import STYLE
from reports.sampling import MAX_POINTS, pick, sampled, subtitle
from reports.text import fmt_ci, params_text
from reports.view import objective_value, quiet_optuna, view_study

MAX_CONTOUR_PARAMS = 4  # a contour matrix grows as the square of this
#: how the diversity scatters mark a trial's arm: (colour, symbol)
ARM_MARKERS = {
    "search": ("#1f77b4", "circle"),
    "published": ("#e4572e", "diamond"),
    "confirm": ("#2ca02c", "square"),
    "reference": ("#7f7f7f", "triangle-up"),
}


def arm_marker(arm: str) -> tuple[str, str]:
    """``(colour, symbol)`` of a trial's arm (``reference:<name>`` as ``reference``)."""
    return ARM_MARKERS.get(arm.split(":")[0], ARM_MARKERS["search"])


def reference_lines(fig, refs: Mapping[str, Any], metric: str | None):
    """``fig`` with the reference arms' means as labelled horizontal lines on every y axis,
    when they are means of ``metric`` (the figure's y); shapes named ``reference:<arm>``."""
    if isinstance(fig, str) or not refs.get("lines") or metric is None:
        return fig
    if refs.get("metric") != metric:
        return fig
    yaxes = list(fig.select_yaxes()) or [None]
    for k, ax in enumerate(yaxes):
        suffix = ax.plotly_name[len("yaxis") :] if ax is not None else ""
        xref = ax.anchor if ax is not None and ax.anchor not in (None, "free") else f"x{suffix}"
        for ref in refs["lines"]:
            color, dash = STYLE.get(ref["arm"], ("#555555", "dash"))
            shape: dict[str, Any] = {
                "type": "line",
                "xref": f"{xref} domain",
                "x0": 0,
                "x1": 1,
                "yref": f"y{suffix}",
                "y0": ref["value"],
                "y1": ref["value"],
                "line": {"color": color, "dash": dash, "width": 1.5},
                "name": f"reference:{ref['arm']}",
            }
            if k == 0:
                shape["label"] = {
                    "text": ref["label"],
                    "textposition": "end",
                    "yanchor": "bottom",
                    "font": {"size": 11, "color": color},
                }
            fig.add_shape(**shape)
    return fig


def importance_figure(norm: Mapping[str, float], objective: str, note: str | None = None):
    """fANOVA importances (normalised) as horizontal bars, the most important on top: the
    numbers of :func:`reports.view.importances` (no second fit, as Optuna's own plot would)."""
    import plotly.graph_objects as go

    names = sorted(norm, key=lambda n: norm[n])
    fig = go.Figure(
        go.Bar(
            x=[norm[n] for n in names],
            y=names,
            orientation="h",
            text=[f"{norm[n]:.2f}" if norm[n] >= 0.01 else "<0.01" for n in names],
            textposition="outside",
            marker={"color": "#1f77b4"},
            name=f"importance for {objective}",
            hovertemplate="%{y}: %{x:.3f}<extra></extra>",
        )
    )
    sub = f"<br><sup>{html.escape(note)}</sup>" if note else ""
    layout(fig, f"Hyperparameter importances (fANOVA) for {html.escape(objective)}{sub}")
    fig.update_xaxes(title="importance (normalised)")
    fig.update_yaxes(title="parameter")
    return fig


def importance_null(fig, raw: Mapping[str, float], null: Mapping[str, float]):
    """The importances' bar chart with each parameter's null 95th percentile, on the bars'
    (normalised) scale: a bar shorter than its mark is not distinguishable from noise."""
    import plotly.graph_objects as go

    total = sum(raw.values())
    if isinstance(fig, str) or not fig.data or total <= 0 or not null:
        return fig
    names = [n for n in fig.data[0].y if n in null]
    fig.add_trace(
        go.Scatter(
            x=[null[n] / total for n in names],
            y=names,
            mode="markers",
            marker={
                "symbol": "line-ns-open",
                "size": 22,
                "color": "#d62728",
                "line": {"width": 3, "color": "#d62728"},
            },
            name="null 95th percentile (objective permuted across trials)",
            hovertemplate="%{y}: null 95th percentile %{x:.3f}<extra></extra>",
        )
    )
    fig.update_layout(showlegend=True, legend={"orientation": "h", "y": -0.2})
    return fig


def layout(fig, title: str, height: int = 420):
    """The report's common layout: title, white template, height, margins."""
    fig.update_layout(
        title={"text": title, "font": {"size": 15}},
        template="plotly_white",
        height=height,
        margin={"l": 60, "r": 30, "t": 100, "b": 50},
    )
    return fig


def _error_bars(values: list, color: str = "#9ab") -> dict[str, Any]:
    return {"type": "data", "array": [v or 0 for v in values], "thickness": 1, "color": color}


def diversity_figure(
    corr: Mapping[str, Any],
    refs: Mapping[str, Any] | None = None,
    seed: int = 0,
    cap: int = MAX_POINTS,
):
    """The scatter of one diversity metric against downstream accuracy, one point per trial
    (marked by its arm; past ``cap``, a seeded sample, said so: the correlation is on all of
    them), with the reference arms as horizontal lines."""
    import plotly.graph_objects as go

    pts = corr["points"]
    keep = [p["number"] for p in pts if (p.get("arm") or "search") != "search"]
    shown = set(pick([p["number"] for p in pts], cap, seed, f"diversity:{corr['x']}", keep))
    info = sampled(len(pts), len(shown))
    pts = [p for p in pts if p["number"] in shown]
    arms = [p.get("arm") or "search" for p in pts]
    err = {}
    if any(p["x_std"] is not None for p in pts):
        err["error_x"] = _error_bars([p["x_std"] for p in pts])
    if any(p["y_std"] is not None for p in pts):
        err["error_y"] = _error_bars([p["y_std"] for p in pts])
    fig = go.Figure(
        go.Scatter(
            x=[p["x"] for p in pts],
            y=[p["y"] for p in pts],
            mode="markers",
            marker={
                "size": 10,
                "color": [arm_marker(a)[0] for a in arms],
                "symbol": [arm_marker(a)[1] for a in arms],
                "line": {"width": 1, "color": "white"},
            },
            customdata=[p["number"] for p in pts],
            text=[
                f"trial {p['number']} ({a})<br>{params_text(p['params'])}"
                for p, a in zip(pts, arms, strict=True)
            ],
            showlegend=False,
            hovertemplate="%{text}<br>x=%{x:.4g}<br>y=%{y:.4g}<extra></extra>",
            **err,
        )
    )
    p = corr.get("partial") or {}
    stats = (
        f"Spearman ρ {fmt_ci(corr['rho'], corr['ci'])}, n={corr['n']}"
        if corr["rho"] is not None
        else html.escape(corr["reason"] or "")
    )
    partial = (
        f"partial on {', '.join(c.split('/')[-1] for c in p['controls'])}: "
        f"ρ {fmt_ci(p['rho'], p['ci'])}"
        if p.get("rho") is not None
        else html.escape(p.get("reason") or "")
    )
    title = f"<b>{html.escape(corr['x'])}</b> vs {html.escape(corr['y'])}<br><sup>{stats}"
    if info["note"]:
        title += f"<br>{html.escape(info['note'])}"
    layout(
        fig, title + (f"<br>{partial}" if partial and corr["rho"] is not None else "") + "</sup>"
    )
    fig.update_xaxes(title=corr["x"])
    fig.update_yaxes(title=corr["y"])
    if len(set(arms)) > 1:  # a legend of the arms present (legend-only traces)
        for a in dict.fromkeys(arms):
            color, symbol = arm_marker(a)
            fig.add_trace(
                go.Scatter(
                    x=[None],
                    y=[None],
                    mode="markers",
                    name=a,
                    marker={"size": 10, "color": color, "symbol": symbol},
                )
            )
    return reference_lines(fig, refs or {}, corr["y"])


def replicate_figure(rep: Mapping[str, Any]):
    """Mean +- seed std of the first objective per configuration, best first."""
    import plotly.graph_objects as go

    cs = rep["configs"]
    labels = [f"#{','.join(str(n) for n in c['trials'])}" for c in cs]
    fig = go.Figure(
        go.Scatter(
            x=labels,
            y=[c["mean"] for c in cs],
            mode="markers",
            error_y={"type": "data", "array": [c["std"] or 0 for c in cs], "visible": True},
            customdata=[c["trials"][0] for c in cs],
            text=[f"{params_text(c['params'])}<br>{c['seeds']} seed(s)" for c in cs],
            hovertemplate="trial %{x}<br>%{text}<br>mean %{y:.4g}<extra></extra>",
            marker={"size": 9},
        )
    )
    layout(
        fig,
        subtitle(
            f"{rep['metric']}: mean ± seed std per configuration (best first)", rep.get("sampled")
        ),
    )
    fig.update_xaxes(title="configuration (trial numbers)", type="category")
    fig.update_yaxes(title=rep["metric"])
    return fig


def learning_figure(lc: Mapping[str, Any], objectives: list):
    """One line per trial and replicate, coloured by the trial's state."""
    import plotly.graph_objects as go

    fig = go.Figure()
    colors = {"COMPLETE": "#1f77b4", "PRUNED": "#ff7f0e", "FAIL": "#d62728"}
    for c in lc["curves"]:
        fig.add_trace(
            go.Scatter(
                x=c["epochs"],
                y=c["values"],
                mode="lines+markers",
                name=f"trial {c['number']}" + (f" r{c['replicate']}" if c["replicate"] else ""),
                line={"color": colors.get(c["state"], "#7f7f7f"), "width": 1},
                marker={"size": 4},
                customdata=[c["number"]] * len(c["epochs"]),
                showlegend=False,
                hovertemplate=f"trial {c['number']} ({c['state'].lower()}), replicate "
                f"{c['replicate']}<br>epoch %{{x}}: %{{y:.4g}}<extra></extra>",
            )
        )
    layout(
        fig,
        subtitle(
            f"{lc['label']} per epoch (blue complete, orange pruned, red failed)",
            lc.get("sampled"),
        ),
    )
    fig.update_xaxes(title="epoch")
    fig.update_yaxes(title=lc["label"])
    return fig


#: the grey of a range pair's impossible half
IMPOSSIBLE_FILL = "rgba(128, 128, 128, 0.35)"


def _point_text(p: Mapping[str, Any], name: str, metric: str) -> str:
    return (
        f"trial {p['number']} ({p['arm']})<br>{name} = [{p['min']:.4g}, {p['max']:.4g}], "
        f"width {p['width']:.4g}<br>{metric} {p['value']:.4g}"
    )


def _arm_traces(go, pts: list, x: str, y: str, name: str, metric: str) -> list:
    """One trace per arm other than search and published (drawn over the search points),
    distinctly marked; the published configuration is :func:`_published_traces`."""
    traces = []
    for arm in dict.fromkeys(p["arm"] for p in pts if p["arm"] not in ("search", "published")):
        mine = [p for p in pts if p["arm"] == arm]
        color, symbol = arm_marker(arm)
        traces.append(
            go.Scatter(
                x=[p[x] for p in mine],
                y=[p[y] for p in mine],
                mode="markers",
                name=arm,
                marker={
                    "size": 11,
                    "symbol": symbol,
                    "color": color,
                    "line": {"width": 1.5, "color": "black"},
                },
                customdata=[p["number"] for p in mine],
                text=[_point_text(p, name, metric) for p in mine],
                hovertemplate="%{text}<extra></extra>",
            )
        )
    return traces


def _published_traces(go, marks: list, x: str, y: str, name: str) -> list:
    """The published configuration, one trace per seed set (:func:`reports.ranges.
    published_marks`): its mean over the reference line's seeds as the large diamond, a
    published trial on other seeds as an open diamond; each named (legend) with its seeds."""
    color, _ = arm_marker("published")
    traces = []
    for m in marks:
        line = m["source"] == "line"
        traces.append(
            go.Scatter(
                x=[m[x]],
                y=[m[y]],
                mode="markers",
                name=m["label"],
                marker={
                    "size": 16 if line else 13,
                    "symbol": "diamond" if line else "diamond-open",
                    "color": color,
                    "line": {"width": 1.5 if line else 2.5, "color": "black" if line else color},
                },
                customdata=[m["trials"][0]],
                text=[f"{html.escape(m['label'])}<br>{name} = [{m['min']:.4g}, {m['max']:.4g}]"],
                hovertemplate="%{text}<extra></extra>",
            )
        )
    return traces


def legend_references(fig, refs: Mapping[str, Any], metric: str | None):
    """``fig`` with the reference lines (:func:`reference_lines`) labelled in the legend
    instead of on the line's end, where a marker can cover the label (the range widths: the
    published configuration, the widest band, sits at the right edge)."""
    import plotly.graph_objects as go

    fig = reference_lines(fig, refs, metric)
    if isinstance(fig, str):
        return fig
    shapes = [s for s in fig.layout.shapes if (s.name or "").startswith("reference:")]
    if not shapes:
        return fig
    for s in shapes:
        s.label = {"text": ""}
    for ref in refs["lines"]:
        color, dash = STYLE.get(ref["arm"], ("#555555", "dash"))
        fig.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="lines",
                name=ref["label"],
                line={"color": color, "dash": dash, "width": 1.5},
                hoverinfo="skip",
            )
        )
    return fig


def range_plane_figure(pair: Mapping[str, Any]):
    """A range pair's (min, max) plane: one point per completed trial coloured by the first
    objective, the impossible half (``max < min + min_width``) shaded grey and labelled, the
    published configuration (and other arms) marked distinctly."""
    import plotly.graph_objects as go

    name, metric = pair["param"], pair["metric"] or "value"
    low, high, w = pair["low"], pair["high"], pair["min_width"]
    poly = pair["impossible"]
    fig = go.Figure(
        go.Scatter(
            x=[c[0] for c in poly] + [poly[0][0]],
            y=[c[1] for c in poly] + [poly[0][1]],
            mode="lines",
            fill="toself",
            fillcolor=IMPOSSIBLE_FILL,
            line={"width": 0},
            name=f"impossible: max < min + {w:g}",
            hoverinfo="skip",
        )
    )
    search = [p for p in pair["points"] if p["arm"] == "search"]
    values = [p["value"] for p in pair["points"]]
    fig.add_trace(
        go.Scatter(
            x=[p["min"] for p in search],
            y=[p["max"] for p in search],
            mode="markers",
            name="search",
            marker={
                "size": 10,
                "color": [p["value"] for p in search],
                "colorscale": "Viridis",
                "cmin": min(values, default=0),
                "cmax": max(values, default=1),
                "colorbar": {"title": {"text": metric}},
                "line": {"width": 1, "color": "white"},
            },
            customdata=[p["number"] for p in search],
            text=[_point_text(p, name, metric) for p in search],
            hovertemplate="%{text}<extra></extra>",
        )
    )
    for t in _arm_traces(go, pair["points"], "min", "max", name, metric):
        fig.add_trace(t)
    for t in _published_traces(go, pair.get("published_marks") or [], "min", "max", name):
        fig.add_trace(t)
    fig.add_annotation(
        x=low + 0.72 * (high - low),
        y=low + 0.18 * (high - low),
        text=f"impossible<br>(max < min + {w:g})",
        showarrow=False,
        font={"size": 12, "color": "#555555"},
    )
    pad = 0.03 * (high - low or 1)
    layout(
        fig,
        subtitle(
            f"<b>{html.escape(name)}</b>: the (min, max) plane, coloured by {html.escape(metric)}",
            pair.get("sampled"),
        ),
        height=480,
    )
    fig.update_xaxes(title=f"{name}.min", range=[low - pad, high + pad])
    fig.update_yaxes(title=f"{name}.max", range=[low - pad, high + pad])
    fig.update_layout(legend={"orientation": "h", "y": -0.2})
    return fig


def range_width_figure(pair: Mapping[str, Any], refs: Mapping[str, Any] | None = None):
    """The first objective against a range pair's width ``max - min``, one point per completed
    trial (marked by its arm), with the reference arms as horizontal lines."""
    import plotly.graph_objects as go

    name, metric = pair["param"], pair["metric"] or "value"
    search = [p for p in pair["points"] if p["arm"] == "search"]
    fig = go.Figure(
        go.Scatter(
            x=[p["width"] for p in search],
            y=[p["value"] for p in search],
            mode="markers",
            name="search",
            marker={
                "size": 10,
                "color": ARM_MARKERS["search"][0],
                "line": {"width": 1, "color": "white"},
            },
            customdata=[p["number"] for p in search],
            text=[_point_text(p, name, metric) for p in search],
            hovertemplate="%{text}<extra></extra>",
        )
    )
    for t in _arm_traces(go, pair["points"], "width", "value", name, metric):
        fig.add_trace(t)
    for t in _published_traces(go, pair.get("published_marks") or [], "width", "value", name):
        fig.add_trace(t)
    layout(
        fig,
        subtitle(
            f"{html.escape(metric)} against the width of <b>{html.escape(name)}</b> (max − min)",
            pair.get("sampled"),
        ),
    )
    fig.update_xaxes(title=f"{name}.max − {name}.min")
    fig.update_yaxes(title=metric)
    fig.update_layout(legend={"orientation": "h", "y": -0.2}, height=480)
    return legend_references(fig, refs or {}, pair["metric"])


def range_figures(data: Mapping[str, Any]) -> dict[str, Any]:
    """``range:<name>`` (the plane) and ``range-width:<name>`` per range pair."""
    figs: dict[str, Any] = {}
    for pair in (data.get("ranges") or {}).get("pairs", []):
        name = pair["param"]
        if pair["reason"]:
            figs[f"range:{name}"] = figs[f"range-width:{name}"] = pair["reason"]
            continue
        figs[f"range:{name}"] = range_plane_figure(pair)
        figs[f"range-width:{name}"] = range_width_figure(pair, data.get("references"))
    return figs


def optuna_plot(fn: Callable, *args, **kw):
    """An Optuna figure, or the reason it cannot be drawn."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn(*args, **kw)
    except (ValueError, RuntimeError, ZeroDivisionError) as e:
        return f"Optuna could not draw it: {e}"


def figures(data: Mapping[str, Any]) -> dict[str, Any]:
    """Plotly figures of the report's data, by name; a string instead of a figure says why
    that figure is missing."""
    import optuna.visualization as ov

    refs = data.get("references") or {}
    with quiet_optuna():
        figs = _diversity_figures(data)
        figs.update(_optuna_figures(data, ov, _cap(data)))
        lc = data["learning"]
        figs["learning"] = lc["reason"] or learning_figure(lc, data["objectives"])
        figs.update(range_figures(data))
        rep = data["replicates"]
        figs["replicates"] = (
            rep["reason"]
            if not rep["configs"]
            else reference_lines(replicate_figure(rep), refs, rep["metric"])
        )
    for v in figs.values():
        if not isinstance(v, str):
            v.update_layout(template="plotly_white")
    return figs


def _cap(data: Mapping[str, Any]) -> int:
    """The most points a figure of ``data`` draws (its ``caps``; older data: the default)."""
    return int((data.get("caps") or {}).get("points") or MAX_POINTS)


def _diversity_figures(data: Mapping[str, Any]) -> dict[str, Any]:
    figs: dict[str, Any] = {}
    for corr in data["diversity"]["correlations"]:
        if corr["headline"]:
            figs[f"diversity:{corr['x']}"] = (
                diversity_figure(corr, data.get("references"), data["seed"], _cap(data))
                if corr["points"]
                else "no trial has this metric"
            )
    return figs


def compact_grids(fig):
    """A contour figure whose interpolated grids are float32 arrays, which plotly writes as
    base64 (about a third of the JSON text of the same numbers): a 4-parameter contour
    matrix holds 12 grids of 100 x 100 values whatever the number of trials."""
    import numpy as np

    if isinstance(fig, str):
        return fig
    for t in fig.data:
        if t.type == "contour" and t.z is not None:
            t.z = np.array(t.z, dtype=float).astype(np.float32)
    return fig


def record_setters(data: Mapping[str, Any]) -> list[int]:
    """The completed trials that set a new best of the first objective, in trial order (the
    optimisation history's best-value line), and each objective's best (a Pareto front's
    extremes)."""
    objectives = data["objectives"]
    done = [r for r in data["trials"] if r["state"] == "COMPLETE" and r["values"]]
    out: set[int] = set()
    for i, o in enumerate(objectives):
        sign = -1.0 if o["direction"] == "maximize" else 1.0
        best = math.inf
        for r in done:
            if i < len(r["values"]) and sign * r["values"][i] < best:
                best = sign * r["values"][i]
                if i == 0:
                    out.add(r["number"])
        if done:
            out.add(min(done, key=lambda r: sign * r["values"][i])["number"])
    return sorted(out | set(data.get("best") or []))


def sampled_view(data: Mapping[str, Any], cap: int = MAX_POINTS):
    """``(view study, Sampled)``: the view (:func:`reports.view.view_study`) of every trial up
    to ``cap`` completed ones, else of the record-setting trials, the best, every trial of the
    reference arms and a seeded random sample of the rest (:mod:`reports.sampling`); the trials
    left out are placeholders, so trial ``n`` of the view is still trial ``n``."""
    done = [r for r in data["trials"] if r["state"] == "COMPLETE" and r["view"] is not None]
    keep = record_setters(data) + [r["number"] for r in done if r.get("arm") != "search"]
    shown = set(pick([r["number"] for r in done], cap, data["seed"], "optuna", keep))
    if len(shown) == len(done):
        return view_study(data), sampled(len(done), len(done))
    return view_study(data, shown), sampled(len(done), len(shown))


def _sample_title(fig, info: Mapping[str, Any]):
    """An Optuna figure's title with the sample's note under it (see :mod:`reports.sampling`)."""
    if isinstance(fig, str) or not info.get("note"):
        return fig
    title = fig.layout.title.text or ""
    fig.update_layout(title={"text": subtitle(title, info)})  # type: ignore[arg-type]
    return fig


def _optuna_figures(data: Mapping[str, Any], ov, cap: int = MAX_POINTS) -> dict[str, Any]:
    figs: dict[str, Any] = {}
    objectives = data["objectives"]
    multi = len(objectives) > 1
    done = [r for r in data["trials"] if r["state"] == "COMPLETE" and r["view"] is not None]
    none = "no completed trials" if not done else None
    view, info = sampled_view(data, cap)
    refs = data.get("references") or {}
    target: dict[str, Any] = {"target_name": objectives[0]["name"]}
    if multi:
        target["target"] = objective_value(0)
    imp = data["importances"]
    if imp["reason"]:
        figs["importances"] = imp["reason"]
    else:
        fit = imp.get("fit") or {}
        for o in objectives:
            fig = importance_figure(imp["by_objective"][o["name"]], o["name"], fit.get("note"))
            figs[f"importances:{o['name']}"] = importance_null(
                fig, imp.get("raw", {}).get(o["name"], {}), imp.get("null", {}).get(o["name"], {})
            )
    names = [c["name"] for c in data["columns"]]
    varying = [n for n in names if len({r["view"][n] for r in done}) > 1]
    if none or not names:
        for k in ("parallel", "slice", "contour"):
            figs[k] = none or "the study has no searched parameters"
    else:
        figs["parallel"] = optuna_plot(ov.plot_parallel_coordinate, view, params=names, **target)
        figs["slice"] = reference_lines(
            optuna_plot(ov.plot_slice, view, params=names, **target), refs, objectives[0]["name"]
        )
        if len(varying) < 2:
            figs["contour"] = "a contour plot needs two searched values that vary between trials"
        else:
            order = imp["by_objective"].get(objectives[0]["name"]) or {}
            top = sorted(varying, key=lambda n: -order.get(n, 0))[:MAX_CONTOUR_PARAMS]
            figs["contour"] = compact_grids(
                optuna_plot(ov.plot_contour, view, params=top, **target)
            )
    if multi:
        if none:
            figs["pareto"] = none
        elif len(objectives) > 3:
            figs["pareto"] = "a Pareto-front plot shows 2 or 3 objectives"
        else:
            figs["pareto"] = optuna_plot(
                ov.plot_pareto_front, view, target_names=[o["name"] for o in objectives]
            )
    else:
        figs["history"] = none or reference_lines(
            optuna_plot(ov.plot_optimization_history, view, target_name=objectives[0]["name"]),
            refs,
            objectives[0]["name"],
        )
    for k in ("parallel", "slice", "contour", "pareto", "history"):
        if k in figs:
            figs[k] = _sample_title(figs[k], info)
    return figs
