"""Section "Study summary": the study's facts as a key-value table, the best trials (the
Pareto set for several objectives), the search-space file and the resolved recipe.

Imports: the standard library, :mod:`reports.sections.base` and :mod:`sweep.record`.
"""

from __future__ import annotations

import json
from typing import Any

from reports.sections.base import Page, Section
from sweep import record


def _searched(search: list[dict[str, Any]] | None) -> str | None:
    if not search:
        return None
    parts = []
    for e in search:
        bounds = (
            f" {e.get('choices')}" if e.get("choices") else f" [{e.get('low')}, {e.get('high')}]"
        )
        targets = f" -> {', '.join(e.get('targets') or [])}" if e.get("targets") else ""
        parts.append(f"{e['name']}: {e['type']}{bounds}{targets}")
    return "; ".join(parts)


def facts(data) -> list[tuple[str, str]]:
    """``(key, value)`` rows of the summary table; unknown values are left out."""
    s = data["summary"]
    c = s["counts"]
    sampler, pruner = s["sampler"], s["pruner"]
    kv = [
        ("study", s["name"]),
        ("question", s["question"] or "(none recorded)"),
        ("objectives", ", ".join(f"{o['name']} ({o['direction']})" for o in data["objectives"])),
        ("trials", f"{s['n_trials']}: " + ", ".join(f"{k.lower()} {v}" for k, v in c.items())),
        ("generator", f"{s['generator']} v{s['generator_version']}" if s["generator"] else None),
        (
            "fixed generator parameters",
            json.dumps(s["fixed_params"]) if s["fixed_params"] is not None else None,
        ),
        ("searched", _searched(s["search"])),
        ("proxy task", f"{s['task']} (profile {s['profile']})" if s["task"] else None),
        ("seeds per configuration", json.dumps(s["seeds"]) if s["seeds"] else None),
        (
            "sampler / pruner",
            f"{(sampler or {}).get('name')} / {(pruner or {}).get('name')}" if sampler else None,
        ),
        ("budget", json.dumps(s["budget"]) if s["budget"] else None),
        (
            "time",
            f"{s['first_start']} to {s['last_complete']}; {s['trial_hours']:.2f} trial-hours"
            if s["first_start"]
            else None,
        ),
        ("storage", s["storage"]),
        ("search-space file", s["file"]),
        ("git commit", s["git_commit"]),
        ("versions", ", ".join(f"{k} {v}" for k, v in (s["versions"] or {}).items()) or None),
        ("report", f"generated {data['generated']} by sweep report (seed {data['seed']})"),
    ]
    return [(k, str(v)) for k, v in kv if v is not None]


def context(page: Page) -> dict[str, Any]:
    data = page.data
    s = data["summary"]
    c = s["counts"]
    none_complete = None
    if not c["COMPLETE"]:
        none_complete = (
            "No completed trials"
            + (f": {c['FAIL']} failed (see Failed and pruned trials)" if c["FAIL"] else " yet")
            + "."
        )
    names = [o["name"] for o in data["objectives"]]
    rows = {r["number"]: r for r in data["trials"]}
    best = []
    for n in data["best"]:
        r = rows[n]
        stds = [r["metrics"].get(record.std_attr(m)) for m in names]
        best.append(
            {
                "number": n,
                "values": list(zip(r["values"], stds, strict=True)),
                "params": r["params"],
            }
        )
    return {
        "facts": facts(data),
        "none_complete": none_complete,
        "names": names,
        "best": best,
        "best_title": "Pareto front" if len(names) > 1 else "Best trials",
        "file_text": s["file_text"],
        "recipe": json.dumps(s["recipe"], indent=1) if s["recipe"] else None,
    }


SECTION = Section(
    id="summary",
    nav="Summary",
    title="Study summary",
    template="section-summary.html.j2",
    context=context,
)
