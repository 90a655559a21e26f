"""The reference arms every trial is read against: the published configuration and scratch.

A trial's headline means little alone: :func:`references` gives the mean of the published
configuration's arm and of the model without pre-training (scratch) on the first objective, for
the figures (horizontal reference lines) and the trials table. Its numbers are the answer's
(:mod:`reports.answer`) when the study has one for that metric, so the page says one thing;
otherwise they are pooled from the trials: the ``published`` arm's per-seed values
(:data:`sweep.record.ARM`, :data:`sweep.record.PER_SEED`), and scratch's per-seed
``scratch_<metric>`` values (one value per seed: scratch does not depend on the trial).

Imports: the standard library, numpy, :mod:`sweep.record`, :mod:`reports.answer`,
:mod:`reports.study` and :mod:`reports.text`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

import numpy as np

from reports.answer import count, number
from reports.study import Objective
from reports.text import params_text
from sweep import record
from sweep.record import TrialRecord

#: the reference arms, in drawing order, with their line colour and dash
STYLE = {"published": ("#e4572e", "dash"), "scratch": ("#555555", "dot")}
#: the longest searched-values text a reference label includes
MAX_LABEL_PARAMS = 40


class Reference(TypedDict):
    arm: str  # "published" | "scratch"
    value: float
    seeds: int | None
    params: dict[str, Any] | None
    source: str  # "answer" | "trials"
    label: str


class ReferencesInfo(TypedDict):
    metric: str | None
    lines: list[Reference]
    reason: str | None


def scratch_metric(metric: str) -> str:
    """The scratch counterpart of ``metric`` (``headline`` -> ``scratch_headline``)."""
    return record.scratch_attr(metric)


def label(arm: str, value: float, seeds: int | None, params: Mapping[str, Any] | None) -> str:
    """``published freq=[0, 20]: 52.3 (4 seeds)``."""
    p = params_text(params) if params else ""
    head = arm + (f" {p}" if p and len(p) <= MAX_LABEL_PARAMS else "")
    return f"{head}: {value:.4g}" + (
        f" ({seeds} seed{'s' if seeds != 1 else ''})" if seeds is not None else ""
    )


def published_from_trials(recs: Sequence[TrialRecord], metric: str) -> Reference | None:
    """The published arm's mean of ``metric`` over its seeds (trial means without them)."""
    arm = [r for r in recs if r.complete and r.arm == record.ARM_PUBLISHED]
    values: list[float] = []
    for r in arm:
        per_seed, mean = r.per_seed(metric), r.metric(metric)
        if per_seed:
            values += per_seed.values()
        elif mean is not None:
            values += [mean] * max(1, len(r.seeds or []))
    if not values:
        return None
    params = [dict(r.params) for r in arm]
    same = params[0] if all(p == params[0] for p in params) else None
    return _ref("published", float(np.mean(values)), len(values), same, "trials")


def scratch_from_trials(recs: Sequence[TrialRecord], metric: str) -> Reference | None:
    """Scratch's mean of ``scratch_<metric>`` over the distinct seeds the trials ran."""
    key = scratch_metric(metric)
    by_seed: dict[Any, list[float]] = {}
    for r in recs:
        if not r.complete:
            continue
        per_seed, mean = r.per_seed(key), r.metric(key)
        if per_seed:
            for seed, v in per_seed.items():
                by_seed.setdefault(seed, []).append(v)
        elif mean is not None:  # a trial's mean over its seeds: the seed tuple is the key
            by_seed.setdefault(tuple(r.seeds or [r.number]), []).append(mean)
    if not by_seed:
        return None
    means = [float(np.mean(v)) for v in by_seed.values()]
    n = sum(len(s) if isinstance(s, tuple) else 1 for s in by_seed)
    return _ref("scratch", float(np.mean(means)), n, None, "trials")


def from_answer(answer: Mapping[str, Any] | None, metric: str, arm: str) -> Reference | None:
    """The answer's ``published`` or ``scratch`` mean, when the answer is about ``metric``."""
    if not answer or answer.get("metric") not in (None, metric):
        return None
    part = answer.get(arm)
    if not isinstance(part, Mapping) or number(part.get("mean")) is None:
        return None
    params = part.get("params") if isinstance(part.get("params"), Mapping) else None
    value = number(part["mean"])
    assert value is not None
    return _ref(arm, value, count(part.get("seeds")), params, "answer")


def _ref(arm: str, value: float, seeds: int | None, params, source: str) -> Reference:
    return {
        "arm": arm,
        "value": value,
        "seeds": seeds,
        "params": params,
        "source": source,
        "label": label(arm, value, seeds, params),
    }


def references(
    recs: Sequence[TrialRecord], objectives: list[Objective], answer: Mapping[str, Any] | None
) -> ReferencesInfo:
    """The published configuration's and scratch's means of the first objective (the
    answer's numbers when it has them), or why there are none."""
    metric = objectives[0]["name"] if objectives else None
    out: ReferencesInfo = {"metric": metric, "lines": [], "reason": None}
    if metric is None:
        out["reason"] = "the study has no objective"
        return out
    for arm, from_trials in (
        ("published", published_from_trials),
        ("scratch", scratch_from_trials),
    ):
        ref = from_answer(answer, metric, arm) or from_trials(recs, metric)
        if ref is not None:
            out["lines"].append(ref)
    if not out["lines"]:
        out["reason"] = (
            f"no reference arms for {metric}: the study ran no published-configuration trials "
            "and stored no scratch baseline (studies written before reference arms have none)"
        )
    return out
