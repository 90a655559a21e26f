"""Section "Noise budget" (issue 20): where a headline's seed noise comes from, how much pairing
removes, and the paired seeds a decision at the smallest effect needs.

Shown when the study's answer carries the noise budget that ``sweep noise`` stored
(``sweep:noise``, which :func:`sweep.answer.answer_of_study` passes on as ``noise``): a stacked
bar chart of the variance components (data seed, training seed, their interaction) of each arm
and of their paired difference, the table of those components, and the paired summary with the
cost of a decision (:func:`sweep.noise.noise_budget`).

Imports: plotly (lazily), :mod:`reports.figures`, :mod:`sweep.noise` (its words) and
:mod:`reports.sections.base`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reports.figures import layout
from reports.sections.base import Page, Section
from sweep.noise import duration, next_step

#: the components, as the page names them
PARTS = (
    ("data", "data seed"),
    ("train", "training seed"),
    ("residual", "interaction (data x training seed)"),
)


def budget(page: Page) -> Mapping[str, Any] | None:
    """The stored noise budget of the page's study, or None."""
    answer = (page.data.get("answer") or {}).get("answer") or {}
    s = answer.get("noise")
    return s if isinstance(s, Mapping) and s.get("components") and s.get("paired") else None


def names(s: Mapping[str, Any]) -> list[str]:
    """The two arms, then ``difference``."""
    return [*s["labels"], "difference"]


def figure(s: Mapping[str, Any]):
    """The variance components of each arm and of the paired difference, stacked."""
    import plotly.graph_objects as go

    comps = s["components"]
    xs = names(s)
    a, b = s["labels"]
    x_text = [a, b, f"paired difference ({a} − {b})"]
    fig = go.Figure()
    for key, label in PARTS:
        ys = [comps[n].get(key) or 0.0 for n in xs]
        shares = [(comps[n].get("shares") or {}).get(key) for n in xs]
        text = [f"{100 * v:.0f}%" if v is not None else "" for v in shares]
        fig.add_trace(
            go.Bar(
                x=x_text,
                y=ys,
                name=label,
                text=text,
                textposition="inside",
                hovertemplate=f"{label}<br>%{{x}}<br>variance %{{y:.4g}}"
                "<br>%{text} of it<extra></extra>",
            )
        )
    layout(fig, f"{s['metric']}: variance components of each arm and of the paired difference")
    fig.update_layout(barmode="stack", legend={"orientation": "h", "y": -0.2})
    fig.update_yaxes(title=f"variance ({s['metric']} points²)")
    return fig


def rows(s: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per arm and one for the difference: mean, SD, each component and its share."""
    out = []
    for n in names(s):
        c = s["components"][n]
        shares = c.get("shares") or {}
        out.append(
            {
                "label": n,
                "mean": c["mean"],
                "sd": c["sd"],
                "parts": [(c.get(k), shares.get(k)) for k, _ in PARTS],
            }
        )
    return out


def context(page: Page) -> dict[str, Any]:
    s = budget(page)
    assert s is not None  # (applies)
    d, p, cost = s["design"], s["paired"], s["cost"]
    return {
        "s": s,
        "rows": rows(s),
        "parts": [label for _, label in PARTS],
        "step": next_step(s),
        "data_seeds": len(d["data_seeds"]),
        "train_seeds": len(d["train_seeds"]),
        "paired": p,
        "cost": cost,
        "trial_time": duration(cost.get("trial_s")),
        "decision_time": duration(cost.get("seconds")),
        "figures": {"noise": figure(s)},
    }


def applies(page: Page) -> bool:
    return budget(page) is not None


SECTION = Section(
    id="noise",
    nav="Noise budget",
    title="Noise budget: where the seed noise comes from",
    template="section-noise.html.j2",
    context=context,
    applies=applies,
)
