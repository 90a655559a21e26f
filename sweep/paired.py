"""The statistics of a study's answer: the omnibus F test, paired t intervals, Holm's
adjustment and the minimal detectable difference.

Every function takes plain mappings and numbers and returns JSON-ready data; vectorised with
numpy where the size grows with the study (the one-way ANOVA over every configuration).

Imports: numpy, scipy (lazily), :mod:`sweep.values`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from sweep.values import is_number

#: z(0.975) + z(0.80): the MDD's multiplier (80% power, 5% two-sided)
MDD_FACTOR = 2.8


def anova(values: Mapping[str, Mapping[int, float]], seeds: Sequence[int] | None) -> dict:
    """The omnibus F test over the configurations with >= 2 seeds (only ``seeds`` when given):
    randomized-block when every configuration has the same seeds, else one-way. Also the pooled
    within-configuration SD (``sigma``) and ICC(1)."""
    from scipy.stats import f as f_dist

    keep = set(seeds) if seeds is not None else None
    groups = []
    for d in values.values():
        g = {s: v for s, v in d.items() if keep is None or s in keep}
        if len(g) >= 2:
            groups.append(g)
    out: dict[str, Any] = {"test": None, "f": None, "df": None, "p": None, "icc": None,
                           "configs": len(groups), "seeds": None, "sigma": None}  # fmt: skip
    if len(groups) < 2:
        return out
    y = np.concatenate([np.fromiter(g.values(), float, len(g)) for g in groups])
    n = np.array([len(g) for g in groups])
    gi = np.repeat(np.arange(len(groups)), n)
    means = np.bincount(gi, weights=y) / n
    grand = y.mean()
    n_tot, k = y.size, len(groups)
    ssb = float((n * (means - grand) ** 2).sum())
    ssw = float(((y - means[gi]) ** 2).sum())
    msb, msw = ssb / (k - 1), ssw / (n_tot - k)
    n0 = (n_tot - (n * n).sum() / n_tot) / (k - 1)
    icc = (msb - msw) / (msb + (n0 - 1) * msw) if msb + (n0 - 1) * msw > 0 else 0.0
    out.update(sigma=math.sqrt(msw), icc=max(0.0, icc), seeds=float(np.median(n)))
    common = set(groups[0])
    block = len(common) >= 2 and all(set(g) == common for g in groups)
    if block:  # configurations x seeds, additive: seeds are blocks
        order = sorted(common)
        m = np.array([[g[s] for s in order] for g in groups])
        ss_seed = k * float(((m.mean(0) - grand) ** 2).sum())
        df_num, df_den = k - 1, (k - 1) * (len(order) - 1)
        ss_res = max(ssw - ss_seed, 0.0)
        test = "anova_block"
    else:
        df_num, df_den, ss_res, test = k - 1, n_tot - k, ssw, "anova"
    ms_res = ss_res / df_den
    scale = max(abs(grand), 1.0) ** 2 * 1e-20  # below: rounding, not noise
    if ms_res <= scale:  # no noise: any spread is an effect
        f, p = (math.inf, 0.0) if msb > scale else (math.nan, 1.0)
    else:
        f = msb / ms_res
        p = float(f_dist.sf(f, df_num, df_den))
    out.update(test=test, f=f, df=[df_num, df_den], p=p)
    return out


def paired(
    a: Mapping[int, float], b: Mapping[int, float], seeds: Sequence[int], level: float
) -> dict | None:
    """Mean of ``a - b`` over the ``seeds`` both have, its t interval at ``level``, the
    two-sided p of 0; None with fewer than 2 such seeds."""
    from scipy.stats import t as t_dist

    both = [s for s in seeds if s in a and s in b]
    if len(both) < 2:
        return None
    d = np.array([a[s] - b[s] for s in both])
    n = d.size
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    se = sd / math.sqrt(n)
    if se <= 1e-12 * max(abs(mean), 1.0):  # a constant difference: exact
        ci, ci95, p = [mean, mean], [mean, mean], (0.0 if mean != 0 else 1.0)
    else:
        q, q95 = t_dist.ppf([1 - (1 - level) / 2, 0.975], n - 1)
        ci, ci95 = [mean - q * se, mean + q * se], [mean - q95 * se, mean + q95 * se]
        p = float(2 * t_dist.sf(abs(mean) / se, n - 1))
    return {"diff": mean, "ci": ci, "level": level, "ci95": ci95, "n": n, "sd": sd, "p": p}


def holm(p: Sequence[float], m: int) -> list[float]:
    """Holm-adjusted p-values of ``p`` in a family of ``m >= len(p)`` hypotheses."""
    order = np.argsort(p)
    out = np.empty(len(p))
    running = 0.0
    for i, j in enumerate(order):
        running = max(running, min(1.0, (m - i) * p[j]))
        out[j] = running
    return out.tolist()


def mdd(sigma: float | None, seeds: float | None, factor: float = MDD_FACTOR) -> float | None:
    """Minimal detectable difference of two arms of ``seeds`` seeds each."""
    if sigma is None or not seeds:
        return None
    return factor * sigma * math.sqrt(2.0 / seeds)


def seeds_needed(sigma: float, diff: float, factor: float) -> int | None:
    """The fewest seeds per arm whose MDD (at ``factor``) is below ``|diff|``."""
    if not diff:
        return None
    return max(2, math.floor(2.0 * (factor * sigma / abs(diff)) ** 2) + 1)


def power_factor(alpha: float) -> float:
    """z(1 - alpha/2) + z(0.80): the MDD's multiplier at a two-sided level ``alpha``."""
    from scipy.stats import norm

    return float(norm.ppf(1 - alpha / 2) + norm.ppf(0.8))


def decimals(*scales: Any) -> int:
    """Decimals to print numbers on the scale of the first of ``scales`` (the seed noise, then
    a difference) that is a number above 1e-9: 1 to 6."""
    for x in scales:
        if is_number(x) and abs(x) > 1e-9:
            return int(min(6, max(1, 1 - math.floor(math.log10(abs(x))))))
    return 1
