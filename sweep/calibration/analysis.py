"""The calibration summary: per-level means, the fidelity analysis and the verdict.

Imports: numpy, Optuna (lazily), :mod:`sweep.record`, :mod:`sweep.values`, :mod:`sweep.fidelity`,
:mod:`sweep.seeding` and this package's ``plan``.
"""

from __future__ import annotations

import datetime
import itertools
from collections.abc import Mapping
from typing import Any

from sweep import record
from sweep.calibration.plan import Calibration
from sweep.values import is_int, jsonable


# ----------------------------------------------------------------------------- analysis
def _scratch(r: record.TrialRecord, resolved: Mapping[str, Any]) -> float | None:
    kind = resolved.get("headline", record.FINETUNE)  # the recipe's field: which evaluation
    name = record.scratch_attr(kind)
    vals = [r.metric(record.downstream_attr(d, name)) for d in resolved.get("downstreams", [])]
    if not vals or any(v is None for v in vals):
        return None
    return float(sum(v for v in vals if v is not None) / len(vals))


def analyze(study, spec, cal: Calibration) -> dict[str, Any]:
    """The calibration summary of the study's completed trials (stored as ``sweep:calibration``):
    per-level means and spreads, the fidelity analysis and the verdict."""
    import numpy as np
    from optuna.trial import TrialState

    from sweep import fidelity
    from sweep.seeding import Seeds

    levels = [lv.name for lv in cal.levels]
    index = {lv.name: a for a, lv in enumerate(cal.levels)}
    n_c, n_l, n_s = len(cal.configs), len(levels), len(cal.seeds)
    seed_ix = {s: j for j, s in enumerate(cal.seeds)}
    names = [cal.metric, *cal.baselines]
    values = {m: np.full((n_l, n_c, n_s), np.nan) for m in names}
    seconds = np.full((n_l, n_c, n_s), np.nan)
    seen = set()
    for r in record.records(study, states=(TrialState.COMPLETE,)):
        labels = r.labels
        i, lv, s = (
            labels.get(record.LABEL_CONFIG),
            labels.get(record.LABEL_LEVEL),
            labels.get(record.LABEL_SEED),
        )
        if lv not in index or s not in seed_ix or not (is_int(i) and 0 <= i < n_c):
            continue
        if r.raw_params != dict(cal.configs[i]):
            continue  # not this plan's configuration
        cell = (index[lv], i, seed_ix[s])
        if cell in seen:
            continue  # the first completion of a cell counts
        seen.add(cell)
        for m in names:
            v = (
                _scratch(r, cal.levels[index[lv]].resolved)
                if m == "scratch" and m not in r.attrs
                else r.metric(m)
            )
            if v is not None:
                values[m][cell] = v
        if (took := r.metric(record.TIME_TOTAL)) is not None:
            seconds[cell] = took
    main = values[cal.metric]
    done = ~np.isnan(main)
    used = [i for i in range(n_c) if done[:, i, :].all()]
    counts = record.counts(study.get_trials(deepcopy=False))
    plan = study.user_attrs.get(record.STUDY_CALIBRATION_PLAN, {})
    summary: dict[str, Any] = {
        "version": 1,
        "study": study.study_name,
        "base_study": plan.get("base_study", spec.study),
        "question": spec.question,
        "generator": spec.generator,
        "profile": cal.profile,
        "metric": cal.metric,
        "direction": cal.direction,
        "baselines": dict(cal.baselines),
        "seeds": list(cal.seeds),
        "design": cal.design,
        "ladder_fields": cal.ladder_fields,
        "levels": [
            {
                "name": lv.name,
                "recipe": dict(lv.recipe),
                "ladder": cal.ladder(lv),
                "trials": int(done[a].sum()),
                "seconds": _mean_or_none(seconds[a]),
            }
            for a, lv in enumerate(cal.levels)
        ],
        "configs": [{"index": i, "values": v} for i, v in enumerate(cal.values)],
        "configs_used": used,
        "cells": n_c * n_l * n_s,
        "cells_done": int(done.sum()),
        "counts": counts,
        "total_trial_hours": round(float(np.nansum(seconds)) / 3600, 4),
        "analyzed_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "analysis": None,
        "notes": [],
    }
    target = cal.levels[-1]
    verdict: dict[str, Any] = {
        "level": None,
        "target": target.name,
        "threshold": cal.threshold,
        "corrected": None,
        "ci": None,
        "confident": False,
    }
    if len(used) < 3:
        summary["notes"].append(
            f"only {len(used)} configurations have every level and seed "
            "complete; the analysis needs at least 3"
        )
        summary["verdict"] = {**verdict, "status": "incomplete"}
        return jsonable(summary, nan_to_none=True)
    if len(used) < n_c:
        summary["notes"].append(
            f"{n_c - len(used)} configuration(s) left out: a level or seed did not complete"
        )
    sign = 1.0 if cal.direction == "maximize" else -1.0
    scores = {name: sign * main[a][used] for a, name in enumerate(levels)}
    base_scores: dict[str, dict[str, Any]] = {}
    for b, d in cal.baselines.items():
        bsign = 1.0 if d == "maximize" else -1.0
        per = {
            name: bsign * values[b][a][used]
            for a, name in enumerate(levels)
            if not np.isnan(values[b][a][used]).any()
        }
        if per:
            base_scores[b] = per
        else:
            summary["notes"].append(f"baseline '{b}': not stored by the trials")
    res = fidelity.analyse(
        levels,
        scores,
        baselines=base_scores,
        k=cal.top_k,
        threshold=cal.threshold,
        n_boot=cal.bootstrap,
        rng=Seeds(cal.seed).rng("calibration", "bootstrap"),
    )
    if sign < 0:  # report the means in the metric's own units
        for row in res["per_level"]:
            row["mean"] = [-v for v in row["mean"]]
    summary["analysis"] = res
    secs = [lv["seconds"] for lv in summary["levels"]]
    if all(s is not None for s in secs) and any(b <= a for a, b in itertools.pairwise(secs)):
        summary["notes"].append(
            "levels are listed cheapest first, but the measured trial "
            f"times are not increasing: {secs}"
        )
    v = res["verdict"]
    verdict.update(corrected=v["corrected"], ci=v["ci"], confident=v["confident"])
    if v["level"] is not None:
        lv = cal.levels[index[v["level"]]]
        verdict.update(level=lv.name, recipe=dict(lv.recipe), ladder=cal.ladder(lv))
        if secs[index[lv.name]] and secs[-1]:
            verdict["speedup"] = secs[-1] / secs[index[lv.name]]
    verdict["status"] = "complete" if len(used) == n_c else "partial"
    summary["verdict"] = verdict
    return jsonable(summary, nan_to_none=True)


def _mean_or_none(x) -> float | None:
    import numpy as np

    return float(np.nanmean(x)) if np.isfinite(x).any() else None
