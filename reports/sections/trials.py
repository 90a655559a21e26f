"""Section "All trials": one row per trial (anchor ``#trial-N``): state, arm (search,
published, confirm), objectives +- seed std, ``gain_headline`` and the headline diversity,
searched values, seeds, seconds, dataset fingerprint; above it, the reference arms' means.

Imports: the standard library, :mod:`reports.correlations` (the diversity names),
:mod:`reports.sections.base` and :mod:`sweep.record`.
"""

from __future__ import annotations

import json
from typing import Any

from reports.correlations import diversity_names
from reports.sections.base import Page, Section
from sweep import record


def context(page: Page) -> dict[str, Any]:
    data = page.data
    names = [o["name"] for o in data["objectives"]]
    prefix, headline, _ = diversity_names()
    extra = [
        k
        for k in (record.GAIN_HEADLINE, *(prefix + h for h in headline))
        if any(k in r["metrics"] for r in data["trials"]) and k not in names
    ]
    rows = []
    for r in data["trials"]:
        vals = r["values"] or [None] * len(names)
        rows.append(
            {
                "number": r["number"],
                "state": r["state"].lower(),
                "arm": r["arm"],
                "arm_class": "arm-" + r["arm"].split(":")[0],
                "objectives": [
                    (v, r["metrics"].get(record.std_attr(m)))
                    for m, v in zip(names, vals, strict=True)
                ],
                "extra": [r["metrics"].get(k) for k in extra],
                "params": r["params"],
                "seeds": json.dumps(r["seeds"]) if r["seeds"] else "",
                "duration_s": r["duration_s"],
                "fingerprint": r["fingerprint"] or "",
            }
        )
    refs = data["references"]
    return {
        "head": [
            "trial",
            "state",
            "arm",
            *names,
            *extra,
            "searched values",
            "seeds",
            "seconds",
            "dataset fingerprint",
        ],
        "rows": rows,
        "refs": refs,
    }


SECTION = Section(
    id="trials",
    nav="All trials",
    title="All trials",
    template="section-trials.html.j2",
    context=context,
)
