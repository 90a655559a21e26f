"""Rank statistics shared by the calibration (:mod:`sweep.fidelity`) and the report (``reports``).

One copy each of: average ranks (:func:`ranks`), the row-wise Pearson correlation
(:func:`pearson`), Spearman's rho (:func:`spearman`, :func:`spearman_matrix`), the partial rank
correlation on controls (:func:`residuals`, :func:`partial_rank_correlation`), the bootstrap's
resampling indices (:func:`resample`, :func:`two_stage_resample`) and its percentile interval
(:func:`interval`, :func:`bootstrap_spearman`). Every function works along the last axis and is
vectorised over the leading ones, so a bootstrap is one array operation.

**Undefined correlations, decided here once.** A correlation with a constant side (a constant
score, or residuals that are constant up to rounding once controls are regressed out) is
undefined. The vectorised functions return their ``undefined`` argument for it, NaN unless the
caller says otherwise: the calibration passes ``undefined=0.0`` (a constant score carries no
information, so it correlates 0), while the report's scalar :func:`spearman_value` and
:func:`partial_spearman` return None (the page says why). A row counts as constant when its
Pearson denominator is at most 1e-12 of the largest one in the call (and of 1).

Imports: numpy and scipy (``rankdata``) only.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
from numpy.typing import ArrayLike

#: the tolerance below which a Pearson denominator counts as zero (relative, see the module doc)
CONSTANT_TOL = 1e-12


# ----------------------------------------------------------------------------- correlations
def ranks(x: ArrayLike) -> np.ndarray:
    """Average ranks (1 = lowest, ties share the mean of their ranks) along the last axis."""
    from scipy.stats import rankdata

    return rankdata(np.asarray(x, dtype=float), axis=-1, method="average")


def pearson(a: np.ndarray, b: np.ndarray, *, undefined: float = math.nan) -> np.ndarray:
    """Pearson's r along the last axis, clipped to [-1, 1]; ``undefined`` where a row of either
    side is constant (see the module doc)."""
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    a = a - a.mean(axis=-1, keepdims=True)
    b = b - b.mean(axis=-1, keepdims=True)
    den = np.sqrt((a * a).sum(-1) * (b * b).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (a * b).sum(-1) / den
    ok = den > CONSTANT_TOL * max(1.0, float(np.max(den, initial=0.0)))
    return np.where(ok, np.clip(r, -1.0, 1.0), undefined)


def spearman(x: np.ndarray, y: np.ndarray, *, undefined: float = math.nan) -> np.ndarray:
    """Spearman's rho along the last axis (average ranks for ties); ``undefined`` where a side
    is constant."""
    return pearson(ranks(x), ranks(y), undefined=undefined)


def spearman_matrix(x: np.ndarray, *, undefined: float = math.nan) -> np.ndarray:
    """Spearman's rho between every pair of rows: ``x`` ``(..., L, C)`` -> ``(..., L, L)``;
    ``undefined`` in the rows and columns of a constant row (its diagonal too)."""
    r = ranks(x)
    r = r - r.mean(-1, keepdims=True)
    norm = np.sqrt((r * r).sum(-1, keepdims=True))
    ok = norm > 0
    r = np.where(ok, r / np.where(ok, norm, 1.0), 0.0)
    m = np.clip(r @ np.swapaxes(r, -1, -2), -1.0, 1.0)
    bad = ~ok[..., 0]
    return np.where(bad[..., :, None] | bad[..., None, :], undefined, m)


def residuals(v: np.ndarray, z: np.ndarray) -> np.ndarray:
    """``v`` ``(..., n)`` with the columns of ``z`` ``(..., n, k)`` and an intercept regressed
    out (least squares)."""
    ones = np.ones((*z.shape[:-1], 1))
    design = np.concatenate([ones, z], axis=-1)
    coef = np.linalg.pinv(design) @ v[..., None]
    return v - (design @ coef)[..., 0]


def partial_rank_correlation(
    x: np.ndarray, y: np.ndarray, z: np.ndarray, *, undefined: float = math.nan
) -> np.ndarray:
    """Spearman's rho of ``x`` and ``y`` ``(..., n)`` with the controls ``z`` ``(..., n, k)``
    partialled out: rank every variable, regress the control ranks (and an intercept) out of
    both, correlate the residuals."""
    zr = np.moveaxis(ranks(np.moveaxis(z, -1, -2)), -2, -1)  # rank each control along n
    return pearson(residuals(ranks(x), zr), residuals(ranks(y), zr), undefined=undefined)


def spearman_value(x: ArrayLike, y: ArrayLike) -> float | None:
    """Spearman's rho of two samples; None when a variable is constant or n < 3."""
    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if xa.size < 3:
        return None
    r = float(spearman(xa[None], ya[None])[0])
    return None if math.isnan(r) else r


def partial_spearman(x: ArrayLike, y: ArrayLike, z: ArrayLike) -> float | None:
    """Spearman's rho of x and y with the controls ``z`` ``(n, k)`` partialled out (see
    :func:`partial_rank_correlation`). None when n < k + 3 or a residual is constant."""
    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    za = np.asarray(z, dtype=float).reshape(xa.size, -1)
    if xa.size < za.shape[1] + 3:
        return None
    r = float(partial_rank_correlation(xa[None], ya[None], za[None])[0])
    return None if math.isnan(r) else r


# ----------------------------------------------------------------------------- bootstrap
def resample(rng: np.random.Generator, n: int, n_boot: int) -> np.ndarray:
    """Indices of ``n_boot`` bootstrap resamples of ``n`` items: ``(n_boot, n)``."""
    return rng.integers(0, n, size=(n_boot, n))


def two_stage_resample(
    rng: np.random.Generator, c: int, s: int, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices of ``n`` two-stage bootstrap replicates: configurations ``(n, C)``, then seeds
    within each drawn configuration ``(n, C, S)``. ``y[i[..., None], j]`` is the replicate of
    a ``(C, S)`` array ``y``."""
    i = resample(rng, c, n)
    j = rng.integers(0, s, size=(n, c, s))
    return i, j


@contextmanager
def _quiet_nan() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def interval(samples: np.ndarray, level: float = 0.95, axis: int = 0) -> np.ndarray:
    """Percentile interval ``[lo, hi]`` (stacked on a new last axis), NaN-aware; NaN where more
    than half of the replicates are NaN (an undefined statistic)."""
    samples = np.asarray(samples, dtype=float)
    alpha = (1 - level) / 2
    bad = np.isnan(samples).mean(axis) > 0.5
    with np.errstate(invalid="ignore"), _quiet_nan():
        lo = np.nanquantile(samples, alpha, axis=axis)
        hi = np.nanquantile(samples, 1 - alpha, axis=axis)
    out = np.stack([lo, hi], axis=-1)
    out[bad] = np.nan
    return out


def bootstrap_spearman(
    x: np.ndarray,
    y: np.ndarray,
    z: np.ndarray | None,
    rng: np.random.Generator,
    n_boot: int,
    level: float = 0.95,
) -> list[float] | None:
    """Percentile interval of (partial, on the controls ``z`` ``(n, k)``) Spearman's rho over
    the items resampled with replacement; resamples where rho is undefined are dropped. None
    when fewer than half of the resamples were usable."""
    idx = resample(rng, x.size, n_boot)
    if z is not None and z.shape[1]:
        r = partial_rank_correlation(x[idx], y[idx], z[idx])
    else:
        r = spearman(x[idx], y[idx])
    lo, hi = interval(r, level)
    return None if math.isnan(lo) else [float(lo), float(hi)]
