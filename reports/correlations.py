"""Diversity against downstream accuracy: Spearman correlations with bootstrap intervals.

:func:`correlation` is one metric's rho, its 95% percentile bootstrap interval over trials and
the same partial on the complexity controls, each with the reason when it cannot be computed;
:func:`diversity` runs it for every ``diversity/*`` metric (and ``<downstream>/rankme``,
``<downstream>/feature_vendi``) of the completed trials against ``headline``.

Imports: numpy, :mod:`sweep.stats`, :mod:`sweep.seeding`, :mod:`sweep.record`,
:mod:`sweep.values`, :mod:`sweep.diversity` (lazily) and :mod:`reports.study`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

import numpy as np

from reports.study import Objective, TrialRow
from sweep import record, stats
from sweep.seeding import Seeds
from sweep.values import is_number

N_BOOT = 2000  # bootstrap resamples for the correlation intervals


class Partial(TypedDict):
    rho: float | None
    ci: list[float] | None
    controls: list[str]
    reason: str | None


class Point(TypedDict):
    number: int
    x: float
    y: float
    x_std: float | None
    y_std: float | None
    params: dict[str, Any]
    arm: str  # search, published, confirm or reference:<name> (sweep.record.ARM)


class Correlation(TypedDict, total=False):
    n: int
    rho: float | None
    ci: list[float] | None
    reason: str | None
    partial: Partial
    # set by diversity():
    x: str
    y: str
    headline: bool
    control: bool
    points: list[Point]


class DiversityInfo(TypedDict):
    y: str
    headline: list[str]
    controls: list[str]
    correlations: list[Correlation]
    reason: str | None


def diversity_names() -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """``(PREFIX, HEADLINE, CONTROLS)`` of :mod:`sweep.diversity`, or their documented values
    while that module is absent (older installs)."""
    try:
        from sweep import diversity as d

        return str(d.PREFIX), tuple(d.HEADLINE), tuple(d.CONTROLS)
    except (ImportError, AttributeError):
        return (
            record.DIVERSITY_PREFIX,
            ("vendi_q1", "vendi_q2"),
            ("ink", "edges", "spectral_slope", "png_bpp"),
        )


def correlation(
    x: Sequence[float],
    y: Sequence[float],
    controls: Mapping[str, Sequence[float]] | None = None,
    *,
    rng: np.random.Generator,
    n_boot: int = N_BOOT,
) -> Correlation:
    """Spearman's rho with a bootstrap 95% interval, and the same partial on ``controls``.

    ``{"n", "rho", "ci", "reason", "partial": {"rho", "ci", "controls", "reason"}}``; a
    ``reason`` says why a value is None (too few trials, a constant variable)."""
    xa, ya = np.asarray(x, float), np.asarray(y, float)
    n = int(xa.size)
    names = [k for k, v in (controls or {}).items() if np.ptp(np.asarray(v, float)) > 0]
    partial: Partial = {"rho": None, "ci": None, "controls": names, "reason": None}
    out: Correlation = {"n": n, "rho": None, "ci": None, "reason": None, "partial": partial}
    if n < 3:
        out["reason"] = f"not enough trials (n={n}; a correlation needs at least 3)"
    elif np.ptp(xa) == 0 or np.ptp(ya) == 0:
        which = "diversity" if np.ptp(xa) == 0 else "accuracy"
        out["reason"] = f"the {which} is the same in every trial"
    if out["reason"]:
        partial["reason"] = out["reason"]
        return out
    out["rho"] = stats.spearman_value(xa, ya)
    out["ci"] = stats.bootstrap_spearman(xa, ya, None, rng, n_boot)
    if not controls:
        partial["reason"] = "no complexity controls in the trials' attributes"
    elif not names:
        partial["reason"] = "the complexity controls are the same in every trial"
    elif n < len(names) + 3:
        partial["reason"] = (
            f"not enough trials for {len(names)} controls (n={n}; needs at least {len(names) + 3})"
        )
    else:
        za = np.column_stack([np.asarray(controls[k], float) for k in names])
        partial["rho"] = stats.partial_spearman(xa, ya, za)
        partial["ci"] = stats.bootstrap_spearman(xa, ya, za, rng, n_boot)
        if partial["rho"] is None:
            partial["reason"] = "the residuals are constant once the controls are regressed out"
    out["partial"] = partial
    return out


#: the endings of a downstream's feature metrics (``<downstream>/rankme``, ...)
FEATURE_KEYS = tuple(record.downstream_attr("", k) for k in (record.RANKME, record.FEATURE_VENDI))


def _metric_keys(done: list[TrialRow], prefix: str) -> list[str]:
    return sorted(
        {
            k
            for r in done
            for k in r["metrics"]
            if (k.startswith(prefix) or k.endswith(FEATURE_KEYS))
            and not k.endswith(record.STD_SUFFIX)
            and k[len(prefix) :] not in record.DIVERSITY_BOOKKEEPING
        }
    )


def diversity(
    rows: list[TrialRow], objectives: list[Objective], seed: int, n_boot: int
) -> DiversityInfo:
    """Every diversity metric's correlation with ``headline`` (else the first objective) over
    the completed trials: the headline metrics first, the complexity controls last."""
    prefix, headline, controls = diversity_names()
    done = [r for r in rows if r["state"] == "COMPLETE"]
    keys = _metric_keys(done, prefix)
    control_keys = [prefix + c for c in controls if prefix + c in keys]
    head_keys = [prefix + h for h in headline if prefix + h in keys]
    order = {k: i for i, k in enumerate(head_keys)}
    rest = sorted(k for k in keys if k not in order and k not in control_keys)
    keys = head_keys + rest + control_keys
    if any(record.HEADLINE in r["metrics"] for r in done):
        y_key, y_of = record.HEADLINE, (lambda r: r["metrics"].get(record.HEADLINE))
    else:
        y_key = objectives[0]["name"] if objectives else "value"
        y_of = lambda r: r["values"][0] if r["values"] else None  # noqa: E731
    out: DiversityInfo = {
        "y": y_key,
        "headline": head_keys,
        "controls": control_keys,
        "correlations": [],
        "reason": None,
    }
    if not done:
        out["reason"] = "no completed trials"
        return out
    if not keys:
        out["reason"] = (
            "the trials carry no diversity attributes (diversity/*): studies run "
            "before the diversity block was added have none"
        )
        return out
    seeds = Seeds(seed)
    for k in keys:
        pts = [r for r in done if is_number(r["metrics"].get(k)) and is_number(y_of(r))]
        ctl = [c for c in control_keys if c != k]
        ctl = [c for c in ctl if all(is_number(r["metrics"].get(c)) for r in pts)]
        x = [r["metrics"][k] for r in pts]
        y = [float(y_of(r)) for r in pts]
        corr = correlation(
            x,
            y,
            {c: [r["metrics"][c] for r in pts] for c in ctl},
            rng=seeds.rng("report", "bootstrap", k, y_key),
            n_boot=n_boot,
        )
        corr["x"], corr["y"] = k, y_key
        corr["headline"], corr["control"] = k in head_keys, k in control_keys
        corr["points"] = [
            {
                "number": r["number"],
                "x": r["metrics"][k],
                "y": float(y_of(r)),
                "x_std": r["metrics"].get(record.std_attr(k)),
                "y_std": r["metrics"].get(record.std_attr(y_key)),
                "params": r["params"],
                "arm": r["arm"],
            }
            for r in pts
        ]
        out["correlations"].append(corr)
    return out
