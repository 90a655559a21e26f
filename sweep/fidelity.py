"""Proxy fidelity estimators: does a cheap proxy rank configurations like the expensive target?

Pure NumPy, every function vectorised over leading
axes, so a bootstrap (or a simulation of many calibrations) is one array operation. Scores are
oriented so that HIGHER IS BETTER (negate a metric that is minimised before calling).

A calibration measures ``C`` configurations at several fidelity levels with ``S`` seeds each:
one ``(C, S)`` array per level. The estimators (shared/docs/diversity-and-proxies.md section 3):

* :func:`spearman` and :func:`kendall_tau_b` of the per-configuration means (seed means) of two
  levels; average ranks for ties; a constant score (no information) correlates 0;
* :func:`split_half`: the noise ceiling of a level. The seeds are split into two halves (every
  split of ``floor(S/2)`` against the rest, at most 20), the Spearman correlation of the two
  half-means across configurations is averaged over splits and stepped up to all ``S`` seeds with
  the Spearman-Brown formula (:func:`spearman_brown`, generalised to unequal halves, so S = 3
  works): the reliability of the level's seed means;
* :func:`correct`: the attenuation-corrected correlation ``r / sqrt(rel_x rel_y)``, clipped to
  [-1, 1], undefined (NaN) when either reliability is below ``min_reliability`` (dividing by a
  near-zero ceiling turns noise into a perfect correlation);
* :func:`variance_components`: ANOVA over configurations x seeds: the ICC of one seed and of
  the S-seed mean, the seed noise ``sigma_seed`` and ``sd_paired``, the SD of the difference of
  two configurations on one common seed, ``sqrt(2 MS_residual)`` of the configurations x seeds
  table with seeds as blocks. Every configuration runs the same seeds, so
  seeds are blocks: :func:`analyse` first removes seed main effects (:func:`center_seeds`: a
  shift shared by every configuration at one seed, such as the same initialisation, changes no
  ranking) and reports ICC(3,1)/ICC(3,S), which equal ICC(1)/ICC(1,S) without such effects;
* :func:`mdd`: the minimal detectable difference between two configurations' means over
  their ``S`` common (paired) seeds, :func:`sweep.paired.mdd` of ``sd_paired``:
  ``2.8 sd_paired / sqrt(S)`` (80% power at alpha 0.05, two-sided);
* :func:`topk_recall`: the share of the proxy's ``k`` best configurations that are among the
  target's best, where configurations within ``tie`` (the target's MDD) of the target's k-th
  best count as tied with it; :func:`regret`: the target's best score minus the target score of
  the proxy's top pick. Ties in the proxy are broken at random, in expectation, so a constant
  proxy scores what a random pick scores;
* :func:`bootstrap`: the two-stage bootstrap (:func:`sweep.stats.two_stage_resample`),
  configurations with replacement, then seeds with replacement within each drawn configuration,
  the same draw for every level (the trials of one configuration and seed at two levels share
  their data seed). It is known to be
  conservative (seed noise enters twice); on simulated calibrations the 95% interval of the
  corrected correlation covered the planted value 96-99% of the time (tests/test_fidelity.py).

:func:`analyse` puts them together for a ladder of levels (cheapest first, the last is the
target) and returns a JSON-able dict including the verdict: the cheapest level whose corrected
correlation with the target is at least ``threshold``, or ``None``.

The rank statistics themselves (ranks, Spearman, its matrix, the resampling indices and the
percentile interval) are :mod:`sweep.stats`, shared with the report; here an undefined rank
correlation (a constant score) is 0 (:data:`NO_INFORMATION`).

Imports: numpy, :mod:`sweep.paired`, :mod:`sweep.stats` and :mod:`sweep.values` only.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from sweep import paired, stats
from sweep.values import jsonable

#: maximum number of seed splits averaged by :func:`split_half`
MAX_SPLITS = 20
#: the value of an undefined rank correlation (a constant score carries no information)
NO_INFORMATION = 0.0


# ----------------------------------------------------------------------------- correlations
def spearman(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman's rho along the last axis (:func:`sweep.stats.spearman`; a constant side: 0)."""
    return stats.spearman(x, y, undefined=NO_INFORMATION)


def kendall_tau_b(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Kendall's tau-b along the last axis: ``sum sx sy / sqrt(sum sx^2 sum sy^2)`` over pairs,
    with ``s = sign`` of the pairwise differences (ties give 0); 0 when either side is
    constant. O(n^2) memory per row: meant for tens of configurations."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    sx = np.sign(x[..., :, None] - x[..., None, :]).astype(np.int8)
    sy = np.sign(y[..., :, None] - y[..., None, :]).astype(np.int8)
    num = (sx * sy).sum((-2, -1), dtype=np.int64)
    den = np.sqrt(
        (sx * sx).sum((-2, -1), dtype=np.int64).astype(float)
        * (sy * sy).sum((-2, -1), dtype=np.int64)
    )
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)


def spearman_matrix(x: np.ndarray) -> np.ndarray:
    """Spearman's rho between every pair of rows: ``x`` ``(..., L, C)`` -> ``(..., L, L)``
    (:func:`sweep.stats.spearman_matrix`; a constant row: 0)."""
    return stats.spearman_matrix(x, undefined=NO_INFORMATION)


def kendall_matrix(x: np.ndarray) -> np.ndarray:
    """Kendall's tau-b between every pair of rows: ``x`` ``(..., L, C)`` -> ``(..., L, L)``."""
    x = np.asarray(x, dtype=float)
    c = x.shape[-1]
    sg = np.sign(x[..., :, None] - x[..., None, :]).astype(np.float32)
    sg = sg.reshape(*x.shape[:-1], c * c)
    num = (sg @ np.swapaxes(sg, -1, -2)).astype(float)
    n = np.sqrt(np.diagonal(num, axis1=-2, axis2=-1))  # untied pairs of each row
    den = n[..., :, None] * n[..., None, :]
    return np.clip(np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0), -1.0, 1.0)


# ----------------------------------------------------------------------------- reliability
def seed_splits(s: int) -> list[tuple[list[int], list[int]]]:
    """Splits of ``s`` seeds into halves of ``floor(s/2)`` and the rest (at most MAX_SPLITS)."""
    if s < 2:
        raise ValueError("a split-half reliability needs at least 2 seeds")
    out = []
    for first in itertools.combinations(range(s), s // 2):
        if s % 2 == 0 and 0 not in first:
            continue  # the complement was already listed
        out.append((list(first), [i for i in range(s) if i not in first]))
        if len(out) == MAX_SPLITS:
            break
    return out


def spearman_brown(r: np.ndarray | float, a: int, b: int) -> np.ndarray:
    """Reliability of the mean of ``a + b`` seeds from the correlation ``r`` between the means of
    ``a`` and of ``b`` seeds (one-way random-effects model: ``r = 1 / sqrt((1 + q/a)(1 + q/b))``
    with ``q`` = noise / signal variance; for ``a = b`` this is ``2r / (1 + r)``). ``r <= 0``
    gives 0."""
    r = np.asarray(r, dtype=float)
    rc = np.clip(r, 1e-9, 1.0)
    qa, qb = 1.0 / a, 1.0 / b
    # q^2 qa qb + q (qa + qb) + 1 - 1/r^2 = 0, the positive root
    disc = (qa + qb) ** 2 - 4 * qa * qb * (1 - 1 / rc**2)
    q = (-(qa + qb) + np.sqrt(disc)) / (2 * qa * qb)
    rel = 1.0 / (1.0 + q / (a + b))
    return np.where(r > 0, rel, 0.0)


def split_half(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(r_half, reliability)`` of seed means: ``y`` is ``(..., C, S)``; see the module doc."""
    y = np.asarray(y, dtype=float)
    s = y.shape[-1]
    splits = seed_splits(s)
    r = np.mean([spearman(y[..., a].mean(-1), y[..., b].mean(-1)) for a, b in splits], axis=0)
    return r, spearman_brown(r, s // 2, s - s // 2)


def correct(r, rel_x, rel_y, min_reliability: float = 0.1) -> np.ndarray:
    """Attenuation-corrected correlation ``r / sqrt(rel_x rel_y)`` clipped to [-1, 1]; NaN when
    either reliability is below ``min_reliability``."""
    r, rel_x, rel_y = (np.asarray(v, dtype=float) for v in (r, rel_x, rel_y))
    ok = (rel_x >= min_reliability) & (rel_y >= min_reliability)
    den = np.sqrt(np.where(ok, rel_x * rel_y, 1.0))
    return np.where(ok, np.clip(r / den, -1.0, 1.0), np.nan)


def center_seeds(y: np.ndarray) -> np.ndarray:
    """``y`` ``(..., C, S)`` without seed main effects: each seed's column centred on its mean
    over configurations, the grand mean added back (configuration means are unchanged)."""
    y = np.asarray(y, dtype=float)
    return y - y.mean(-2, keepdims=True) + y.mean((-2, -1), keepdims=True)


def variance_components(y: np.ndarray, blocked: bool = False) -> dict[str, np.ndarray]:
    """ANOVA of ``y`` ``(..., C, S)``: mean squares, ICC of one seed and of the S-seed mean, the
    seed noise ``sigma_seed``, the spread of the configurations' true scores, and ``sd_paired``
    = ``sqrt(2 ms_res)``: the SD of the difference of two configurations on one seed, from the
    residual mean square ``ms_res`` of the two-way table with seeds as blocks (whichever
    ``blocked``: paired differences cancel a seed's common part).

    One-way (``blocked=False``): ICC(1) and ICC(1,S). With seeds as blocks (``blocked=True``,
    every configuration ran the same seeds): the residual is the configuration x seed
    interaction (df ``(C-1)(S-1)``), a shift shared by all configurations at one seed (the same
    initialisation) is not noise, and the ICCs are Shrout-Fleiss ICC(3,1) and ICC(3,S)
    (consistency); both equal the one-way values when seeds have no common effect."""
    y = np.asarray(y, dtype=float)
    c, s = y.shape[-2:]
    m = y.mean(-1)
    resid = y - m[..., None] - y.mean(-2, keepdims=True) + m.mean(-1)[..., None, None]
    ms_res = (resid**2).sum((-2, -1)) / ((c - 1) * (s - 1))
    if blocked:
        msw = ms_res
    else:
        msw = ((y - m[..., None]) ** 2).sum((-2, -1)) / (c * (s - 1))
    msb = s * ((m - m.mean(-1, keepdims=True)) ** 2).sum(-1) / (c - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        icc1 = (msb - msw) / (msb + (s - 1) * msw)
        icck = (msb - msw) / msb
    return {
        "msb": msb,
        "msw": msw,
        "icc1": np.where(np.isfinite(icc1), icc1, np.nan),
        "icck": np.where(np.isfinite(icck), icck, np.nan),
        "sigma_seed": np.sqrt(msw),
        "sigma_config": np.sqrt(np.maximum(msb - msw, 0.0) / s),
        "ms_res": ms_res,
        "sd_paired": np.sqrt(2.0 * ms_res),
    }


def mdd(sd_paired, s: int) -> np.ndarray:
    """Minimal detectable difference between two configurations' means over ``s`` common seeds
    from the SD of their paired differences (:func:`sweep.paired.mdd_array`)."""
    return paired.mdd_array(sd_paired, s)


# ----------------------------------------------------------------------------- selection
def _top_weights(p: np.ndarray, k: int) -> np.ndarray:
    """Probability that each configuration is among the top ``k`` of ``p`` (random ties)."""
    kth = -np.sort(-p, axis=-1)[..., k - 1 : k]
    above = p > kth
    tied = p == kth
    n_above = above.sum(-1, keepdims=True)
    n_tied = tied.sum(-1, keepdims=True)
    return above + tied * (k - n_above) / n_tied


def topk_recall(proxy: np.ndarray, target: np.ndarray, k: int, tie=0.0) -> np.ndarray:
    """Share of the proxy's top ``k`` whose target score is within ``tie`` of the target's k-th
    best (1 = the proxy picks only target-best configurations); along the last axis."""
    proxy, target = np.asarray(proxy, dtype=float), np.asarray(target, dtype=float)
    k = int(min(k, proxy.shape[-1]))
    kth_target = -np.sort(-target, axis=-1)[..., k - 1 : k]
    good = target >= kth_target - np.asarray(tie, dtype=float)[..., None]
    return (_top_weights(proxy, k) * good).sum(-1) / k


def topk_chance(target: np.ndarray, k: int, tie=0.0) -> np.ndarray:
    """The top-``k`` recall of a random pick: the share of configurations that count as
    target-best (within ``tie`` of the k-th best). When the target's own noise ties most
    configurations, a recall of 1 says nothing; this is the number to compare it with."""
    target = np.asarray(target, dtype=float)
    k = int(min(k, target.shape[-1]))
    kth_target = -np.sort(-target, axis=-1)[..., k - 1 : k]
    good = target >= kth_target - np.asarray(tie, dtype=float)[..., None]
    return good.mean(-1)


def regret(proxy: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Target's best score minus the target score of the proxy's top pick (expected over ties)."""
    proxy, target = np.asarray(proxy, dtype=float), np.asarray(target, dtype=float)
    pick = _top_weights(proxy, 1)
    return np.maximum(target.max(-1) - (pick * target).sum(-1), 0.0)  # no -0.0 from rounding


# ----------------------------------------------------------------------------- bootstrap
def bootstrap(ys: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Two-stage bootstrap replicates of a calibration ``ys`` ``(..., L, C, S)``: returns
    ``(..., n, L, C, S)``; every level of a replicate uses the same configuration and seed draw
    (independent draws for each leading index)."""
    ys = np.asarray(ys, dtype=float)
    *lead, n_levels, c, s = ys.shape
    batch = math.prod(lead)
    flat = ys.reshape(batch, n_levels, c, s)
    i, j = stats.two_stage_resample(rng, c, s, batch * n)
    i, j = i.reshape(batch, n, c), j.reshape(batch, n, c, s)
    b = np.arange(batch)[:, None, None, None, None]
    lv = np.arange(n_levels)[None, None, :, None, None]
    out = flat[b, lv, i[:, :, None, :, None], j[:, :, None, :, :]]
    return out.reshape(*lead, n, n_levels, c, s)


# ----------------------------------------------------------------------------- the analysis
def statistics(
    ys: np.ndarray, k: int = 3, min_reliability: float = 0.1, blocked: bool = True
) -> dict[str, np.ndarray]:
    """Every statistic of a stack of levels ``ys`` ``(..., L, C, S)`` (the last level is the
    target), vectorised over the leading axes: per level ``(..., L)`` (``reliability``,
    ``icc1``, ``icck``, ``sigma_seed``, ``sd_paired``, ``sigma_config``, ``mdd`` (paired, of
    ``sd_paired``); ``recall`` and ``regret``
    against the target), per pair ``(..., L, L)`` (``spearman``, ``kendall``, ``corrected``).
    ``blocked``: seeds are blocks (see :func:`variance_components`)."""
    s = ys.shape[-1]
    means = ys.mean(-1)  # (..., L, C)
    _, rel = split_half(ys)  # (..., L)
    vc = variance_components(ys, blocked)
    rho = spearman_matrix(means)  # (..., L, L)
    tau = kendall_matrix(means)
    corr = correct(rho, rel[..., :, None], rel[..., None, :], min_reliability)
    target = means[..., -1, :]
    tie = mdd(vc["sd_paired"][..., -1], s)  # pairs closer than the target's MDD are ties
    recall = topk_recall(means, target[..., None, :], k, tie[..., None])
    reg = regret(means, target[..., None, :])
    chance = np.broadcast_to(topk_chance(target, k, tie)[..., None], recall.shape)
    return {
        "spearman": rho,
        "kendall": tau,
        "corrected": corr,
        "reliability": rel,
        "recall_chance": chance,
        "icc1": vc["icc1"],
        "icck": vc["icck"],
        "sigma_seed": vc["sigma_seed"],
        "sd_paired": vc["sd_paired"],
        "sigma_config": vc["sigma_config"],
        "mdd": mdd(vc["sd_paired"], s),
        "recall": recall,
        "regret": reg,
    }


def analyse(
    levels: Sequence[str],
    scores: Mapping[str, np.ndarray],
    *,
    baselines: Mapping[str, Mapping[str, np.ndarray]] | None = None,
    k: int = 3,
    threshold: float = 0.8,
    n_boot: int = 2000,
    rng: np.random.Generator,
    level: float = 0.95,
    min_reliability: float = 0.1,
) -> dict[str, Any]:
    """The fidelity analysis of a calibration (see the module docstring).

    ``scores[name]`` is the ``(C, S)`` score array of each level in ``levels`` (cheapest first,
    the last is the target), higher is better. ``baselines[b][name]`` are ``(C, S)`` arrays of
    trivial predictors (the scratch model's accuracy, minus the pre-training loss) measured at
    that level; they get the same numbers against the target's seed means. Returns plain
    JSON-able data (NaN as None)."""
    names = list(levels)
    if len(names) < 2:
        raise ValueError("a calibration needs at least 2 levels")
    extra = [
        (b, name, np.asarray(per[name], dtype=float))
        for b, per in (baselines or {}).items()
        for name in names
        if name in per
    ]
    stack = np.stack(
        [np.asarray(scores[n], dtype=float) for n in names] + [y for _, _, y in extra]
    )
    n_levels = len(names)
    raw = stack[:n_levels]
    # Seed main effects (a shift of every configuration at one seed: the same initialisation,
    # the same downstream draw) do not change rankings at a common seed; left in, the bootstrap's
    # seed resampling would turn them into differences between configurations.
    stack = center_seeds(stack)
    ys = stack[:n_levels]  # (L, C, S)
    _, c, s = ys.shape
    if c < 3 or s < 2:
        raise ValueError(f"need at least 3 configurations and 2 seeds, got {c} x {s}")
    k = int(max(1, min(k, c - 1)))
    point = statistics(ys, k, min_reliability)
    boot_all = bootstrap(stack, n_boot, rng)  # (B, L + baselines, C, S): one draw for all
    boot = statistics(boot_all[:, :n_levels], k, min_reliability)
    ci = {key: stats.interval(v, level) for key, v in boot.items()}

    def triple(key, *idx):
        return {"value": point[key][idx], "ci": ci[key][idx]}

    per_level = []
    for a, name in enumerate(names):
        y = raw[a]
        per_level.append(
            {
                "level": name,
                "mean": y.mean(-1),
                "std": y.std(-1, ddof=1),
                "reliability": triple("reliability", a),
                "icc1": triple("icc1", a),
                "icck": triple("icck", a),
                "sigma_seed": triple("sigma_seed", a),
                "sd_paired": triple("sd_paired", a),
                "sigma_config": triple("sigma_config", a),
                "mdd": triple("mdd", a),
            }
        )
    matrices = {
        key: {"value": point[key], "lo": ci[key][..., 0], "hi": ci[key][..., 1]}
        for key in ("spearman", "kendall", "corrected")
    }
    rel = point["reliability"]
    matrices["ceiling"] = {"value": np.sqrt(np.maximum(rel[:, None] * rel[None, :], 0.0))}
    vs_target = []
    for a, name in enumerate(names[:-1]):
        vs_target.append(
            {
                "level": name,
                "spearman": triple("spearman", a, -1),
                "kendall": triple("kendall", a, -1),
                "ceiling": matrices["ceiling"]["value"][a, -1],
                "corrected": triple("corrected", a, -1),
                "recall": triple("recall", a),
                "recall_chance": point["recall_chance"][a],
                "regret": triple("regret", a),
            }
        )
    out_baselines = []
    for e, (b, name, y) in enumerate(extra):
        pair = np.stack([y, ys[-1]])  # the baseline at its level, then the target
        p0 = statistics(pair, k, min_reliability)
        bb = statistics(boot_all[:, [n_levels + e, n_levels - 1]], k, min_reliability)
        bci = {key: stats.interval(v, level) for key, v in bb.items()}
        row: dict[str, Any] = {"baseline": b, "level": name}
        for key, idx in (
            ("spearman", (0, 1)),
            ("kendall", (0, 1)),
            ("corrected", (0, 1)),
            ("recall", (0,)),
            ("regret", (0,)),
        ):
            row[key] = {"value": p0[key][idx], "ci": bci[key][idx]}
        row["recall_chance"] = p0["recall_chance"][0]
        out_baselines.append(row)
    verdict = None
    for row in vs_target:
        v = row["corrected"]["value"]
        if np.isfinite(v) and v >= threshold:
            verdict = row
            break
    top_ci = verdict["corrected"]["ci"] if verdict else None
    result = {
        "levels": names,
        "target": names[-1],
        "n_configs": c,
        "n_seeds": s,
        "top_k": k,
        "threshold": threshold,
        "bootstrap": n_boot,
        "interval": level,
        "min_reliability": min_reliability,
        "per_level": per_level,
        "matrices": matrices,
        "vs_target": vs_target,
        "baselines": out_baselines,
        "verdict": {
            "level": verdict["level"] if verdict else None,
            "corrected": verdict["corrected"]["value"] if verdict else None,
            "ci": top_ci,
            "confident": bool(
                top_ci is not None and np.isfinite(top_ci[0]) and top_ci[0] >= threshold
            ),
        },
    }
    return jsonable(result, nan_to_none=True)
