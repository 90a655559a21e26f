"""The noise budget of a proxy: where a headline's seed noise comes from, how much pairing two
arms on common seeds removes, and what a decision at the smallest effect costs.

A proxy decides between two configurations by their paired differences on common seeds (the
same data seed and training seed for both arms: the class parameters come from the same draws,
the model from the same initialisation, the batches in the same order). Its noise budget is
measured on a crossed design: ``D`` data seeds x ``T`` training seeds, both arms in every cell.

* :func:`components`: the two-way random-effects decomposition of one table of cells
  ``{(data_seed, train_seed): value}`` into the data seed's, the training seed's and the
  interaction's (residual) variance, from the mean squares of the crossed design without
  replication (each component clipped at 0), their shares, the total and its SD;
* :func:`paired_summary`: the two arms' SDs, their correlation, the SD of the paired difference
  (with its 95% chi-square interval), the mean difference;
* :func:`decision_cost`: the paired seeds an MDD of ``delta`` needs, ``(factor x sd_d / delta)
  ** 2``, and the CPU (or GPU) seconds of both arms' trials;
* :func:`noise_budget`: all three for two arms of one crossed design, JSON-ready, as stored on a
  study (``record.STUDY_NOISE``) and drawn by the report;
* :func:`fresh_seeds`: the design's data seeds and training seeds, drawn from the study's space
  hash in ``[NOISE_LOW, 2 * NOISE_LOW)``, apart from every seed the study ran;
* :func:`next_step` (the answer's next step), :func:`summary_lines` (``sweep noise``'s text).

The MDD arithmetic itself (the factor, the seeds a decision needs) is :mod:`sweep.paired`'s; the
command that runs the design and stores the budget is :mod:`sweep.noise_cli`.

Imports: numpy, scipy (lazily), :mod:`sweep.paired`, :mod:`sweep.seeding`.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Collection, Mapping
from typing import Any

import numpy as np

from sweep.paired import MDD_FACTOR, decimals, seeds_for_mdd

Cell = tuple[int, int]
#: the noise budget's seeds lie in [NOISE_LOW, 2 * NOISE_LOW): above the search's seeds and
#: their replicates' and the confirmation's ([2**30, 2**31), :mod:`sweep.engine.confirm`)
NOISE_LOW = 2**31


def _grid(table: Mapping[Cell, float]) -> tuple[np.ndarray, list[int], list[int]]:
    ds = sorted({d for d, _ in table})
    ts = sorted({t for _, t in table})
    m = np.full((len(ds), len(ts)), np.nan)
    for (d, t), v in table.items():
        m[ds.index(d), ts.index(t)] = float(v)
    return m, ds, ts


def components(table: Mapping[Cell, float]) -> dict[str, Any]:
    """Variance components of a complete crossed table (see the module doc); with one data seed
    or one training seed, only the total."""
    m, _, _ = _grid(table)
    if np.isnan(m).any():
        raise ValueError("the crossed design is incomplete: every (data, train) cell is needed")
    d, t = m.shape
    total = float(m.var(ddof=1)) if m.size > 1 else 0.0
    out: dict[str, Any] = {
        "data_seeds": d,
        "train_seeds": t,
        "cells": int(m.size),
        "mean": float(m.mean()),
        "total": total,
        "sd": math.sqrt(total),
        "data": None,
        "train": None,
        "residual": None,
        "shares": None,
    }
    if d < 2 or t < 2:
        return out
    grand = m.mean()
    rows, cols = m.mean(1), m.mean(0)
    ms_d = t * float(((rows - grand) ** 2).sum()) / (d - 1)
    ms_t = d * float(((cols - grand) ** 2).sum()) / (t - 1)
    resid = m - rows[:, None] - cols[None, :] + grand
    ms_r = float((resid**2).sum()) / ((d - 1) * (t - 1))
    var_d, var_t, var_r = max(0.0, (ms_d - ms_r) / t), max(0.0, (ms_t - ms_r) / d), ms_r
    s = var_d + var_t + var_r
    out.update(data=var_d, train=var_t, residual=var_r)
    if s > 0:
        out["shares"] = {"data": var_d / s, "train": var_t / s, "residual": var_r / s}
    return out


def paired_summary(a: Mapping[Cell, float], b: Mapping[Cell, float]) -> dict[str, Any]:
    """The two arms on their common cells: ``n``, ``mean_a``, ``mean_b``, ``diff`` (a - b),
    ``sd_a``, ``sd_b``, ``sd_unpaired`` (the SD of a difference of two independent draws),
    ``correlation``, ``sd_paired`` and its 95% interval ``sd_paired_ci``."""
    from scipy.stats import chi2

    common = sorted(set(a) & set(b))
    n = len(common)
    if n < 3:
        raise ValueError(f"a paired summary needs 3 or more common cells, got {n}")
    x = np.array([a[c] for c in common], float)
    y = np.array([b[c] for c in common], float)
    dd = x - y
    sd_a, sd_b, sd_d = (float(v.std(ddof=1)) for v in (x, y, dd))
    corr = float(np.corrcoef(x, y)[0, 1]) if sd_a > 0 and sd_b > 0 else None
    lo, hi = chi2.ppf([0.975, 0.025], n - 1)
    return {
        "n": n,
        "mean_a": float(x.mean()),
        "mean_b": float(y.mean()),
        "diff": float(dd.mean()),
        "sd_a": sd_a,
        "sd_b": sd_b,
        "sd_unpaired": math.sqrt(sd_a**2 + sd_b**2),
        "correlation": corr,
        "sd_paired": sd_d,
        "sd_paired_ci": [sd_d * math.sqrt((n - 1) / lo), sd_d * math.sqrt((n - 1) / hi)],
    }


def decision_cost(
    sd_paired: float, trial_s: float | None, delta: float = 1.0, factor: float = MDD_FACTOR
) -> dict[str, Any]:
    """What an MDD of ``delta`` between two configurations costs: ``seeds`` (paired, exact and
    rounded up), the ``trials`` of both arms and their ``seconds`` at ``trial_s`` each (None
    when the trial time is unknown)."""
    exact = (factor * sd_paired / delta) ** 2
    seeds = seeds_for_mdd(sd_paired, delta, factor)
    t = trial_s
    return {
        "delta": delta,
        "factor": factor,
        "seeds_exact": exact,
        "seeds": seeds,
        "trials": 2 * seeds,
        "trial_s": t,
        "seconds_exact": None if t is None else 2 * exact * t,
        "seconds": None if t is None else 2 * seeds * t,
    }


def noise_budget(
    a: Mapping[Cell, float],
    b: Mapping[Cell, float],
    trial_s: float | None,
    delta: float = 1.0,
    labels: tuple[str, str] = ("a", "b"),
) -> dict[str, Any]:
    """The noise budget of arms ``a`` and ``b`` measured on a crossed design (module doc);
    the difference is ``a - b``."""
    if len(set(labels)) != 2 or "difference" in labels:
        raise ValueError(f"two distinct labels other than 'difference' are needed, got {labels}")
    common = set(a) & set(b)
    diff = {c: a[c] - b[c] for c in common}
    paired = paired_summary(a, b)
    return {
        "labels": list(labels),
        "components": {
            labels[0]: components(a),
            labels[1]: components(b),
            "difference": components(diff),
        },
        "paired": paired,
        "cost": decision_cost(paired["sd_paired"], trial_s, delta),
    }


def fresh_seeds(
    space_hash: str, data: int, train: int, used: Collection[int] = ()
) -> tuple[list[int], list[int]]:
    """``data`` data seeds and ``train`` training seeds, all distinct and none in ``used``:
    drawn in ``[NOISE_LOW, 2 * NOISE_LOW)`` from ``Seeds(root).rng("noise", "seeds")``, the
    root a hash of ``space_hash`` (the same study file, the same seeds)."""
    from sweep.seeding import Seeds

    root = int(hashlib.sha256(space_hash.encode()).hexdigest()[:8], 16)
    rng = Seeds(root).rng("noise", "seeds")
    taken = set(int(s) for s in used)
    out: list[int] = []
    while len(out) < data + train:
        s = int(rng.integers(NOISE_LOW, 2 * NOISE_LOW))
        if s not in taken:
            taken.add(s)
            out.append(s)
    return out[:data], out[data:]


# ----------------------------------------------------------------------------- the words
def duration(seconds: float | None) -> str | None:
    """``0.012 s``, ``42 s``, ``12 min``, ``3.2 h``, ``2.1 days``; None for None."""
    if seconds is None or not math.isfinite(seconds):
        return None
    if seconds < 1:
        return f"{seconds:.2g} s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def share_text(c: Mapping[str, Any]) -> str | None:
    """``data seed 10%, training seed 30%, their interaction 60%`` of components ``c``."""
    sh = c.get("shares")
    if not sh:
        return None
    return (
        f"data seed {100 * sh['data']:.0f}%, training seed {100 * sh['train']:.0f}%, "
        f"their interaction {100 * sh['residual']:.0f}%"
    )


def next_step(s: Mapping[str, Any]) -> str | None:
    """The answer's next step from a stored noise budget ``s`` (``record.STUDY_NOISE``): the
    paired SD it measured, where the paired variance comes from, and the paired seeds a
    decision at the smallest effect needs; None when ``s`` holds no paired SD."""
    paired, cost = s.get("paired") or {}, s.get("cost") or {}
    sd = paired.get("sd_paired")
    if sd is None or cost.get("seeds") is None:
        return None
    shares = share_text((s.get("components") or {}).get("difference") or {})
    where = f" ({shares} of the paired variance)" if shares else ""
    spent = duration(cost.get("seconds"))
    trials = f"{cost['trials']} trials" + (f", about {spent}" if spent else "")
    return (
        f"the noise budget (sweep noise) measured a paired SD of {sd:.{decimals(sd)}f} "
        f"points{where}: {cost['seeds']} paired seeds ({trials}) decide at the smallest "
        f"effect ({cost['delta']:g})"
    )


def summary_lines(s: Mapping[str, Any]) -> list[str]:
    """``sweep noise``'s text: the design, each arm's and the difference's components, the
    paired summary and the cost of a decision."""
    d, p, cost = s["design"], s["paired"], s["cost"]
    a, b = s["labels"]
    dec = decimals(p["sd_paired"], p["sd_a"])
    lines = [
        f"noise budget of '{s['base_study']}' ({s['metric']}, {s['profile']} profile): "
        f"'{a}' and '{b}' on {len(d['data_seeds'])} data seeds x "
        f"{len(d['train_seeds'])} training seeds ({d['trials']} trials, study "
        f"'{s['study']}')",
        f"  {'':<16}{'mean':>10}{'SD':>10}   share of the variance",
    ]
    for label in (a, b, "difference"):
        c = s["components"][label]
        lines.append(
            f"  {label[:16]:<16}{c['mean']:>10.{dec}f}{c['sd']:>10.{dec}f}   "
            f"{share_text(c) or '-'}"
        )
    corr = "-" if p["correlation"] is None else f"{p['correlation']:.2f}"
    lo, hi = p["sd_paired_ci"]
    lines.append(
        f"paired: correlation {corr}, SD of the paired difference "
        f"{p['sd_paired']:.{dec}f} (95% CI [{lo:.{dec}f}, {hi:.{dec}f}]; unpaired "
        f"{p['sd_unpaired']:.{dec}f}), mean difference {a} - {b} "
        f"{p['diff']:+.{dec}f}"
    )
    per = duration(cost.get("trial_s"))
    spent = duration(cost.get("seconds"))
    lines.append(
        f"a decision at the smallest effect ({cost['delta']:g}): {cost['seeds']} paired "
        f"seeds, {cost['trials']} trials"
        + (f", about {spent} at {per} a trial" if spent and per else "")
    )
    return lines
