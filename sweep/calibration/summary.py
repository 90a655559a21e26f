"""The calibration summary as text: the verdict line, table rows and the terminal print-out.

The HTML report's calibration section (its tables and plotly figures) is
``reports/sections/calibration.py``, which builds on :func:`verdict_line`, :func:`table_rows`
and :func:`baseline_rows`.

Imports: the standard library; rich lazily.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


# ----------------------------------------------------------------------------- reporting
def show(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def ci_text(value, ci) -> str:
    if value is None:
        return "n/a"
    if not ci or ci[0] is None:
        return f"{value:.2f}"
    return f"{value:.2f} [{ci[0]:.2f}, {ci[1]:.2f}]"


def verdict_line(summary: Mapping[str, Any]) -> str:
    v = summary["verdict"]
    res = summary.get("analysis")
    if res is None:
        return f"verdict: incomplete ({'; '.join(summary.get('notes', []))})"
    n = f"{res['n_configs']} configurations x {res['n_seeds']} seeds"
    if v.get("level"):
        speed = f", {v['speedup']:.1f}x cheaper per trial" if v.get("speedup") else ""
        sure = "" if v.get("confident") else " (its interval reaches below the threshold)"
        return (
            f"verdict: '{v['level']}' is the cheapest level whose corrected Spearman with "
            f"'{v['target']}' is >= {v['threshold']:g}: {ci_text(v['corrected'], v['ci'])}"
            f"{sure}{speed}; {n}"
        )
    return (
        f"verdict: none: no level cheaper than '{v['target']}' reached a corrected "
        f"Spearman of {v['threshold']:g} with it; {n}"
    )


def table_rows(summary: Mapping[str, Any]) -> list[dict[str, str]]:
    """One row per level: cost, noise and agreement with the target (strings)."""
    res = summary["analysis"]
    per = {r["level"]: r for r in res["per_level"]}
    vs = {r["level"]: r for r in res["vs_target"]}
    rows = []
    for lv in summary["levels"]:
        p, t = per[lv["name"]], vs.get(lv["name"])
        rows.append(
            {
                "level": lv["name"],
                "recipe": ", ".join(f"{k}={show(v)}" for k, v in lv["recipe"].items()) or "(base)",
                "s/trial": show(lv["seconds"]) if lv["seconds"] is not None else "",
                "reliability": ci_text(p["reliability"]["value"], p["reliability"]["ci"]),
                "ICC, one seed": ci_text(p["icc1"]["value"], None),
                "sigma seed": show(p["sigma_seed"]["value"]),
                "SD paired": _paired_sd(p),
                "MDD (paired)": show(p["mdd"]["value"]),
                "Spearman": ci_text(t["spearman"]["value"], t["spearman"]["ci"])
                if t
                else "target",
                "Kendall tau-b": ci_text(t["kendall"]["value"], t["kendall"]["ci"]) if t else "",
                "corrected": ci_text(t["corrected"]["value"], t["corrected"]["ci"]) if t else "",
                f"top-{res['top_k']} recall (chance)": _recall(t) if t else "",
                "regret": show(t["regret"]["value"]) if t else "",
            }
        )
    return rows


def _paired_sd(row: Mapping[str, Any]) -> str:
    """The SD of two configurations' difference on a common seed (older summaries lack it)."""
    sd = row.get("sd_paired")
    return show(sd["value"]) if sd else ""


def _recall(row: Mapping[str, Any]) -> str:
    """Top-k recall next to a random pick's (older summaries lack the chance figure)."""
    chance = row.get("recall_chance")
    value = ci_text(row["recall"]["value"], None)
    return f"{value} ({ci_text(chance, None)})" if chance is not None else value


def baseline_rows(summary: Mapping[str, Any]) -> list[dict[str, str]]:
    res = summary["analysis"]
    return [
        {
            "baseline": b["baseline"],
            "at level": b["level"],
            "Spearman": ci_text(b["spearman"]["value"], b["spearman"]["ci"]),
            "Kendall tau-b": ci_text(b["kendall"]["value"], b["kendall"]["ci"]),
            "corrected": ci_text(b["corrected"]["value"], b["corrected"]["ci"]),
            f"top-{res['top_k']} recall (chance)": _recall(b),
            "regret": show(b["regret"]["value"]),
        }
        for b in res["baselines"]
    ]


def print_summary(summary: Mapping[str, Any], *, as_json: bool = False) -> None:
    """The summary on stdout: JSON, or tables (quantities x levels, so that it fits a terminal)
    and the verdict line."""
    if as_json:
        print(json.dumps(summary, indent=1))
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    c = summary["counts"]
    print(
        f"calibration '{summary['study']}': {summary['cells_done']}/{summary['cells']} cells "
        f"complete (trials: complete {c['COMPLETE']}, failed {c['FAIL']}); "
        f"{summary['total_trial_hours'] * 60:.1f} trial-minutes"
        + (
            f", this run {summary['run_seconds'] / 60:.1f} minutes of wall time"
            if "run_seconds" in summary
            else ""
        )
    )
    if summary.get("analysis"):
        rows = table_rows(summary)
        table = Table(
            title=f"fidelity of each level against '{summary['verdict']['target']}' "
            f"({escape(summary['metric'])}; 95% intervals)"
        )
        table.add_column("")
        for r in rows:
            table.add_column(escape(r["level"]))
        for key in list(rows[0])[1:]:
            table.add_row(escape(key), *(escape(r[key]) for r in rows))
        console.print(table)
        brows = baseline_rows(summary)
        if brows:
            table = Table(title="trivial baselines against the target")
            for col in brows[0]:
                table.add_column(escape(col))
            for r in brows:
                table.add_row(*(escape(v) for v in r.values()))
            console.print(table)
    for note in summary.get("notes", []):
        print(f"note: {note}")
    print(verdict_line(summary))
