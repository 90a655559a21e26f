"""What the trials came to: replicate spread and effect sizes, learning curves, failures.

* :func:`replicates`: per configuration (its configuration key, as the answer's
  :func:`sweep.answer.data.collect` groups trials), the mean and seed std of the first
  objective over its seeds, pooled seed std sigma, and its gap to the best: paired on the seeds
  both ran when they share at least 2 (:func:`sweep.paired.paired`; MDD = 2.8 sd_d / sqrt(n)
  from the SD of the paired differences, :func:`sweep.paired.mdd`), else the difference of the
  means with the unpaired MDD = 2.8 sigma sqrt(2/S) (``paired: false``); the gap also in units
  of sigma;
* :func:`learning_curves`: the pre-training loss per epoch and replicate (the engine reports
  step = replicate x :data:`sweep.record.LOSS_STEP` + epoch);
* :func:`failures`: failed and pruned trials with their reason and retry links.

Imports: the standard library, numpy, :mod:`sweep.record`, :mod:`sweep.answer.data`,
:mod:`sweep.paired` and :mod:`reports.study`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any, TypedDict

import numpy as np

from reports.sampling import MAX_CONFIGS, MAX_CURVES, Sampled, pick, sampled
from reports.study import Objective, TrialRow, ranked
from sweep import paired
from sweep.answer.data import canonical, collect
from sweep.record import TrialRecord, split_loss_step, std_attr


class ReplicateConfig(TypedDict, total=False):
    params: dict[str, Any]
    trials: list[int]
    seeds: int
    mean: float
    std: float | None
    gap: float
    effect: float | None
    mdd: float | None
    within_noise: bool | None
    paired: bool | None  # the gap is paired on common seeds (None: the best itself)
    paired_seeds: int | None  # the seeds it shares with the best (paired) or None
    sd_paired: float | None  # the SD of its paired differences to the best


class ReplicatesInfo(TypedDict):
    metric: str | None
    configs: list[ReplicateConfig]
    sampled: Sampled  # the configurations shown of those there are (the best first)
    sigma: float | None
    reason: str | None


class Curve(TypedDict):
    number: int
    state: str
    replicate: int
    epochs: list[int]
    values: list[float]


class LearningInfo(TypedDict):
    label: str
    curves: list[Curve]
    sampled: Sampled  # the trials whose curves are shown of those with curves
    reason: str | None


class Failure(TypedDict):
    number: int
    state: str
    error_type: str | None
    reason: str
    params: dict[str, Any]
    duration_s: float | None
    worker: str | None
    retry_of: int | None
    retried_by: list[int]


# ----------------------------------------------------------------------------- replicates
def combine(
    means: Sequence[float], stds: Sequence[float | None], ns: Sequence[int]
) -> tuple[float, float | None, int]:
    """Mean and sample std of the union of groups given each group's mean, std and size."""
    m_arr, n_arr = np.asarray(means, float), np.asarray(ns, int)
    n = int(n_arr.sum())
    m = float((m_arr * n_arr).sum() / n)
    if n < 2 or any(s is None and k > 1 for s, k in zip(stds, n_arr, strict=True)):
        return m, None, n
    ss = sum((k - 1) * (s or 0.0) ** 2 for s, k in zip(stds, n_arr, strict=True))
    ss += float((n_arr * (m_arr - m) ** 2).sum())
    return m, math.sqrt(ss / (n - 1)), n


def replicates(
    rows: list[TrialRow],
    objectives: list[Objective],
    records: Sequence[TrialRecord],
    cap: int = MAX_CONFIGS,
) -> ReplicatesInfo:
    """Per configuration of the completed ``rows`` (``records``: the same trials, for their
    configuration keys and per-seed values): see the module doc."""
    out: ReplicatesInfo = {
        "metric": None,
        "configs": [],
        "sampled": sampled(0, 0),
        "sigma": None,
        "reason": None,
    }
    done = ranked(rows, objectives)
    if not done:
        out["reason"] = "no completed trials"
        return out
    metric = objectives[0]["name"]
    maximize = objectives[0]["direction"] == "maximize"
    out["metric"] = metric
    data = collect(records, metric)
    key_of = {t.number: k for k, ts in data.trials.items() for t in ts}
    groups: dict[str, list[TrialRow]] = {}
    for r in done:
        groups.setdefault(key_of.get(r["number"]) or canonical(r["params"]), []).append(r)
    keyed: list[tuple[str, ReplicateConfig]] = []
    for key, group in groups.items():
        # Trials of a configuration with the same seeds (a retry, a sampler repeat) are the
        # same runs again, not replicates: count each seed set once.
        rs = list({json.dumps(r["seeds"]): r for r in reversed(group)}.values())[::-1]
        ns = [max(1, len(r["seeds"] or [1])) for r in rs]
        stds = [r["metrics"].get(std_attr(metric)) for r in rs]
        mean, std, n = combine([r["values"][0] for r in rs], stds, ns)
        keyed.append(
            (
                key,
                {
                    "params": group[0]["params"],
                    "trials": sorted(r["number"] for r in group),
                    "seeds": n,
                    "mean": mean,
                    "std": std,
                },
            )
        )
    keyed.sort(key=lambda kc: -kc[1]["mean"] if maximize else kc[1]["mean"])
    configs = [c for _, c in keyed]
    dof = sum(c["seeds"] - 1 for c in configs if c["std"] is not None)
    if dof:
        var = sum((c["seeds"] - 1) * c["std"] ** 2 for c in configs if c["std"] is not None)
        out["sigma"] = math.sqrt(var / dof)
    sigma = out["sigma"]
    best = data.values.get(keyed[0][0], {})
    # Past the cap: the best configurations and every replicated one (the spread is theirs)
    n_configs = len(keyed)
    if n_configs > cap:
        multi = [i for i, (_, c) in enumerate(keyed) if c["seeds"] > 1][:cap]
        top = set(multi) | set(range(cap - len(multi)))
        keyed = [kc for i, kc in enumerate(keyed) if i in top]
        configs = [c for _, c in keyed]
    for i, (key, c) in enumerate(keyed):
        gap_to_best(c, configs[0], data.values.get(key, {}), best, sigma, maximize, first=i == 0)
    out["configs"] = configs
    out["sampled"] = {
        "of": n_configs,
        "shown": len(configs),
        "note": None
        if len(configs) == n_configs
        else (
            f"{n_configs:,} configurations; {len(configs):,} shown: the best, and every one "
            "run on 2 or more seeds"
        ),
    }
    if sigma is None:
        out["reason"] = (
            "one seed per configuration: no replicate spread, so effect sizes "
            "cannot be put in units of the seed noise (give the study "
            "seeds: [0, 1, 2])"
        )
    return out


def gap_to_best(
    c: ReplicateConfig,
    top: ReplicateConfig,
    values: dict[int, float],
    best: dict[int, float],
    sigma: float | None,
    maximize: bool,
    first: bool,
) -> None:
    """Fill ``c``'s gap to the best configuration ``top`` (per-seed ``values`` and ``best``):
    paired on their common seeds when they share at least 2, else unpaired (see the module
    doc); ``effect`` is the gap in units of the pooled seed std ``sigma``."""
    c["mdd"] = c["within_noise"] = c["paired"] = c["paired_seeds"] = c["sd_paired"] = None
    if first:
        c["gap"] = 0.0
        c["effect"] = 0.0 if sigma else None
        return
    a, b = (best, values) if maximize else (values, best)
    p = paired.paired(a, b, sorted(set(a) & set(b)), 0.95)
    if p is not None:
        c["gap"], c["paired"], c["paired_seeds"], c["sd_paired"] = p["diff"], True, p["n"], p["sd"]
        c["mdd"] = paired.mdd(p["sd"], p["n"])
    else:  # no 2 common seeds: two independent arms, the SD of a difference sqrt(2) sigma
        c["gap"] = (top["mean"] - c["mean"]) * (1 if maximize else -1)
        c["paired"] = False
        if sigma and sigma > 0:
            c["mdd"] = paired.mdd(math.sqrt(2.0) * sigma, min(c["seeds"], top["seeds"]))
    c["effect"] = c["gap"] / sigma if sigma and sigma > 0 else None
    if c["mdd"] is not None:
        c["within_noise"] = c["gap"] < c["mdd"]


# ----------------------------------------------------------------------------- curves
def learning_curves(
    rows: list[TrialRow],
    objectives: list[Objective],
    sweep_study: bool,
    seed: int = 0,
    cap: int = MAX_CURVES,
) -> LearningInfo:
    """Intermediate values per trial and replicate; for a sweep study, the pre-training loss
    (the engine reports it negated when the objective is maximised). Past ``cap`` trials with
    curves, a seeded random ``cap`` of them (:mod:`reports.sampling`), said so."""
    sign = 1.0 if objectives and objectives[0]["direction"] == "maximize" else -1.0
    curves: list[Curve] = []
    with_curves = [r["number"] for r in rows if r["intermediate"]]
    shown = set(pick(with_curves, cap, seed, "learning"))
    for r in rows:
        if not r["intermediate"] or r["number"] not in shown:
            continue
        by_rep: dict[int, list[tuple[int, float]]] = {}
        for step, v in r["intermediate"].items():
            rep, epoch = split_loss_step(step) if sweep_study else (0, step)
            by_rep.setdefault(rep, []).append((epoch, -sign * v if sweep_study else v))
        for rep, pts in sorted(by_rep.items()):
            pts.sort()
            curves.append(
                {
                    "number": r["number"],
                    "state": r["state"],
                    "replicate": rep,
                    "epochs": [p[0] for p in pts],
                    "values": [p[1] for p in pts],
                }
            )
    label = "pre-training loss" if sweep_study else "intermediate value"
    reason = None
    if not curves:
        reason = "no intermediate values" + (
            " (multi-objective studies report none)" if len(objectives) > 1 else ""
        )
    return {
        "label": label,
        "curves": curves,
        "sampled": sampled(len(with_curves), len(shown)),
        "reason": reason,
    }


# ----------------------------------------------------------------------------- failures
def failures(rows: list[TrialRow]) -> list[Failure]:
    retried_by: dict[int, list[int]] = {}
    for r in rows:
        if r["retry_of"] is not None:
            retried_by.setdefault(int(r["retry_of"]), []).append(r["number"])
    out: list[Failure] = []
    for r in rows:
        if r["state"] not in ("FAIL", "PRUNED"):
            continue
        reason = r["error"]
        if r["state"] == "PRUNED" and not reason:
            if r["intermediate"]:
                rep, epoch = split_loss_step(max(r["intermediate"]))
                reason = f"pruned at epoch {epoch}" + (f" of replicate {rep}" if rep else "")
            else:
                reason = "pruned"
        out.append(
            {
                "number": r["number"],
                "state": r["state"],
                "error_type": r["error_type"] or ("pruned" if r["state"] == "PRUNED" else None),
                "reason": reason or "no reason recorded",
                "params": r["params"],
                "duration_s": r["duration_s"],
                "worker": r["worker"],
                "retry_of": r["retry_of"],
                "retried_by": retried_by.get(r["number"], []),
            }
        )
    return out
