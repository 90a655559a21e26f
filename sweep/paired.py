"""Paired statistics, in one place: every comparison of two configurations in ``sweep`` is made
on their paired differences on common seeds, and every MDD, "seeds needed", interval and
decision at the smallest effect that matters comes from here (the answer, the engine's
confirmation, the report, ``status``, the calibration and the noise budget all call this module).

Why paired: two arms run on the same seed share their class draws, initialisation, batch order
and probe; on the cpu preset their headlines correlate at about 0.86, so the SD of a paired
difference ``sd_d`` is about half of the unpaired ``sqrt(2) sigma_seed``. The MDD of S paired
seeds is ``factor * sd_d / sqrt(S)`` (``factor`` = z(1 - alpha/2) + z(power)); the unpaired
formula ``factor * sigma_seed * sqrt(2 / S)`` overstates it whenever the arms are correlated.

* :func:`paired`: the mean of ``a - b`` on the common seeds, its t interval, p;
* :func:`arm_noise`: the noise of a set of configurations on common seeds against a reference:
  the pooled SD of the paired differences ``sd_paired``, the pooled single-arm SD
  ``sigma_seed`` and their mean correlation;
* :func:`mdd` (:func:`mdd_array` over arrays), :func:`seeds_for_mdd`, :func:`power_factor`:
  the paired MDD arithmetic;
* :func:`decide`: the four outcomes of a difference against the smallest effect ``delta``
  (difference, equivalent, negligible, undecided; see its doc);
* :func:`anova`: the omnibus F test (randomized-block: seeds as blocks, the analysis of the
  within-seed contrasts, when every configuration has every seed), :func:`holm`.

Every function takes plain mappings and numbers and returns JSON-ready data.

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
#: the default smallest effect that matters, in the headline's points (README, "Deciding")
DEFAULT_SMALLEST_EFFECT = 1.0
#: the four decisions of :func:`decide`
DECISIONS = ("difference", "equivalent", "negligible", "undecided")
DIFFERENCE, EQUIVALENT, NEGLIGIBLE, UNDECIDED = DECISIONS


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
    out: dict[str, Any] = {
        "test": None,
        "f": None,
        "df": None,
        "p": None,
        "icc": None,
        "configs": len(groups),
        "seeds": None,
        "sigma": None,
    }
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


def mdd(sd_paired: float | None, seeds: float | None, factor: float = MDD_FACTOR) -> float | None:
    """Minimal detectable difference of two arms on ``seeds`` paired seeds: the true difference
    found with 80% power (at ``factor``'s level), ``factor * sd_paired / sqrt(seeds)``."""
    if sd_paired is None or not seeds:
        return None
    return factor * sd_paired / math.sqrt(seeds)


def mdd_array(sd_paired: Any, seeds: float, factor: float = MDD_FACTOR) -> np.ndarray:
    """:func:`mdd` element-wise over an array of paired SDs (NaN stays NaN): for vectorised
    callers such as the calibration's bootstrap (:mod:`sweep.fidelity`)."""
    return factor * np.asarray(sd_paired, dtype=float) / math.sqrt(seeds)


def seeds_for_mdd(sd_paired: float, delta: float, factor: float = MDD_FACTOR) -> int:
    """The fewest paired seeds (at least 2) whose MDD is at most ``delta``."""
    if delta <= 0:
        raise ValueError(f"delta must be positive, got {delta!r}")
    return max(2, math.ceil((factor * sd_paired / delta) ** 2 - 1e-9))


def seeds_needed(sd_paired: float, diff: float, factor: float) -> int | None:
    """The fewest paired seeds whose MDD (at ``factor``) is at most ``|diff|``."""
    if not diff:
        return None
    return seeds_for_mdd(sd_paired, abs(diff), factor)


def arm_noise(
    values: Mapping[str, Mapping[int, float]], reference: str | None, seeds: Sequence[int]
) -> dict[str, Any]:
    """The noise of configurations on common ``seeds``: ``sd_paired``, the pooled SD of each
    one's paired difference to ``reference`` (no reference: to the first), ``sigma_seed`` the
    pooled single-arm SD, ``correlation`` the mean correlation of an arm with the reference,
    ``pairs`` and ``seeds``. None fields when fewer than 2 seeds or arms."""
    out: dict[str, Any] = {
        "sd_paired": None,
        "sigma_seed": None,
        "correlation": None,
        "pairs": 0,
        "seeds": len(seeds),
    }
    keys = [k for k in values if all(s in values[k] for s in seeds)]
    if len(seeds) < 2 or len(keys) < 2:
        return out
    ref = reference if reference in keys else keys[0]
    m = {k: np.array([values[k][s] for s in seeds], float) for k in keys}
    out["sigma_seed"] = math.sqrt(sum(float(v.var(ddof=1)) for v in m.values()) / len(m))
    others = [k for k in keys if k != ref]
    var_d = [float((m[k] - m[ref]).var(ddof=1)) for k in others]
    out["sd_paired"] = math.sqrt(sum(var_d) / len(var_d))
    out["pairs"] = len(others)
    corr = [
        float(np.corrcoef(m[k], m[ref])[0, 1])
        for k in others
        if m[k].std() > 0 and m[ref].std() > 0
    ]
    out["correlation"] = sum(corr) / len(corr) if corr else None
    return out


def decide(ci: Sequence[float], delta: float) -> str:
    """The decision of an interval ``ci`` of a difference against the smallest effect that
    matters, ``delta`` > 0 (two one-sided tests and a test of difference, Lakens 2018):

    * ``difference``: the interval excludes 0 and reaches beyond ``+-delta`` (a real difference
      that may matter; its sign is the direction);
    * ``negligible``: the interval excludes 0 but lies inside ``(-delta, delta)``: real, smaller
      than what matters;
    * ``equivalent``: the interval contains 0 and lies inside ``(-delta, delta)``;
    * ``undecided``: the interval contains 0 and reaches beyond ``+-delta``: more paired seeds.
    """
    lo, hi = float(ci[0]), float(ci[1])
    inside = -delta < lo and hi < delta
    excludes = lo > 0 or hi < 0
    if excludes:
        return NEGLIGIBLE if inside else DIFFERENCE
    return EQUIVALENT if inside else UNDECIDED


def power_factor(alpha: float, df: int | None = None) -> float:
    """z(1 - alpha/2) + z(0.80): the MDD's multiplier at a two-sided level ``alpha``; with
    ``df``, Student's t quantiles instead (the answer's intervals on ``df + 1`` paired seeds)."""
    if df is not None:
        from scipy.stats import t

        return float(t.ppf(1 - alpha / 2, df) + t.ppf(0.8, df))
    from scipy.stats import norm

    return float(norm.ppf(1 - alpha / 2) + norm.ppf(0.8))


def decimals(*scales: Any) -> int:
    """Decimals to print numbers on the scale of the first of ``scales`` (the seed noise, then
    a difference) that is a number above 1e-9: 1 to 6."""
    for x in scales:
        if is_number(x) and abs(x) > 1e-9:
            return int(min(6, max(1, 1 - math.floor(math.log10(abs(x))))))
    return 1


def interval_text(ci: Sequence[Any], fmt: int) -> str:
    """``[lo, hi]`` at ``fmt`` decimals; a bound that rounds to 0 but is not 0 gets the decimals
    that keep its sign visible (an interval clear of 0 never prints as touching it)."""
    nums = [x for x in ci if is_number(x)]
    d = max([fmt] + [decimals(abs(x)) for x in nums if round(x, fmt) == 0 and x != 0])
    return "[" + ", ".join(f"{x:.{d}f}" if is_number(x) else "n/a" for x in ci) + "]"
