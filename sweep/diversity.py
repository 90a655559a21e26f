"""Diversity of a synthetic dataset: the block of metrics every sweep trial stores.

The headline metric is the **spectral Vendi score**: the Vendi score (Friedman & Dieng 2022) of
centred log-magnitude Fourier features under a cosine kernel. Pixel-space Vendi measures how
little thin strokes overlap rather than shape variety: on a toy contour generator it ranked
datasets backwards (shared notes), and on real VisualAtom renders (128 px) the `vendi-score`
package's default (raw pixels, uncentred) scores the band [0, 3] below the collapsed [0, 0]. The
magnitude spectrum is translation-invariant and ranks VisualAtom's frequency bands in order.

Fixed preprocessing, so numbers compare across the trials of a sweep:

1. a stratified sample of ``n`` images (default 1000), the same count from every class, drawn
   with a keyed seed;
2. grey, scaled to [0, 1], area-downsampled to at most ``FEATURE_SIZE`` (64) pixels a side
   (smaller images keep their size: a 16-px proxy is measured at 16 px);
3. features ``log(1 + |rFFT2(x - mean(x))|)`` (the DC term, i.e. the amount of ink, is removed:
   that is a complexity control, not shape variety), centred over the sample, rows normalised
   (cosine kernel).

Why 64 and not 32: on real VisualAtom renders (published defaults, 512 px, seeds 0 and 2) 32x32
features order the bands [0,0] < [0,3] < [0,8] but put [0,20] below [0,8]: area-averaging to 32 px
erases the fine wiggles that distinguish high frequencies. At 64x64 the four bands are strictly
increasing at 128 and 512 px render sizes for every seed tried (tests pin it).

The block (``diversity_block``), stored as user attributes ``diversity/<key>``:

- ``vendi_q1``, ``vendi_q2``: Vendi of order 1 (exp of the eigenvalue entropy) and 2
  (``n^2 / ||K||_F^2``, no eigendecomposition); the HEADLINE metrics;
- ``within_vendi_q1``: mean over classes of the within-class Vendi (q=1);
- ``between_within``: ``vendi_q1 / within_vendi_q1``;
- ``fisher``: ``tr(S_B) / tr(S_W)`` of the normalised features;
- ``aug_vendi_q1``, ``aug_vendi_q2``: the headline numbers after the pre-training augmentation;
- complexity CONTROLS, per image then averaged: ``ink`` (fraction of non-zero pixels),
  ``edges`` (fraction of pixels whose Sobel gradient exceeds 0.25 of full scale per pixel),
  ``spectral_slope`` (slope of log radial power against log frequency), ``png_bpp`` (PNG
  bytes per pixel, compression level 6);
- ``n``, ``feature_size``: the sample actually used.

After pre-training the proxy adds ``<downstream>/rankme`` (RankMe, Garrido et al. 2023) and
``<downstream>/feature_vendi`` of the model's features on downstream images.

The Vendi functions are our own (the ``vendi-score`` package ignores its ``q`` argument).

Imports: numpy, OpenCV and torch (lazily); :mod:`sweep.seeding` and :mod:`sweep.record` (its
attribute prefix). Nothing else from the project: the proxy task and the CLI call it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from sweep.record import DIVERSITY_PREFIX, DIVERSITY_TIME, FEATURE_VENDI, RANKME
from sweep.seeding import Seeds

#: user-attribute prefix of the dataset block
PREFIX = DIVERSITY_PREFIX  # the trial-record prefix (sweep.record)
#: the headline diversity metrics (also computed after augmentation, as ``aug_<name>``)
HEADLINE = ("vendi_q1", "vendi_q2")
#: per-image complexity controls (partialled out when correlating diversity with accuracy)
CONTROLS = ("ink", "edges", "spectral_slope", "png_bpp")
#: default sample size and feature resolution
N = 1000
FEATURE_SIZE = 64
EDGE_THRESHOLD = 0.25

Augment = Callable[[np.ndarray], np.ndarray]


# ----------------------------------------------------------------------------- Vendi
def _entropy_order(lam: np.ndarray, q: float) -> float:
    """Hill number of order ``q`` of a probability vector ``lam`` (zeros allowed)."""
    lam = lam[lam > 1e-12]
    lam = lam / lam.sum()
    if q == 1:
        return float(np.exp(-np.sum(lam * np.log(lam))))
    if np.isinf(q):
        return float(1.0 / lam.max())
    if q == 0:
        return float(lam.size)
    return float(np.sum(lam**q) ** (1.0 / (1.0 - q)))


def vendi_from_kernel(K: np.ndarray, q: float = 1.0) -> float:
    """Vendi score of order ``q`` of a similarity matrix ``K`` with unit diagonal.

    ``exp(-sum lam log lam)`` for q=1, ``(sum lam^q)^(1/(1-q))`` otherwise, where ``lam`` are
    the eigenvalues of ``K / n``. Order 2 uses the closed form ``n^2 / ||K||_F^2``.
    """
    K = np.asarray(K, dtype=np.float64)
    if K.ndim != 2 or K.shape[0] != K.shape[1] or K.shape[0] == 0:
        raise ValueError(f"K must be a non-empty square matrix, got shape {K.shape}")
    n = K.shape[0]
    if q == 2:
        return float(n * n / np.sum(K * K))
    lam = np.clip(np.linalg.eigvalsh(K / n), 0.0, None)
    return _entropy_order(lam, q)


def _normalised(X: np.ndarray, center: bool, dtype=np.float64) -> np.ndarray:
    X = np.asarray(X, dtype=dtype)
    if center:
        X = X - X.mean(axis=0)
    norm = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.maximum(norm, 1e-12)


def vendi_scores(
    X: np.ndarray, qs=(1, 2), *, center: bool = True, dtype=np.float64
) -> dict[float, float]:
    """Vendi scores of the rows of ``X`` under the cosine kernel, for each order in ``qs``.

    The eigenvalues of ``K/n`` are those of the smaller of ``X X^T / n`` and ``X^T X / n``
    (same non-zero spectrum, same Frobenius norm), so n=1000 images with d=144 features cost a
    144x144 problem. ``center`` subtracts the mean feature first (without it, non-negative
    features all look alike and every set scores about 1). ``dtype`` is that of the Gram
    product (float32 halves its cost; the eigenvalues are always taken in float64).
    """
    Z = _normalised(X, center, dtype)
    n, d = Z.shape
    G = ((Z.T @ Z) if d < n else (Z @ Z.T)).astype(np.float64)
    lam = np.clip(np.linalg.eigvalsh(G / n), 0.0, None) if any(q != 2 for q in qs) else None
    out: dict[float, float] = {}
    for q in qs:
        if q == 2:
            out[q] = float(n * n / np.sum(G * G))
        else:
            assert lam is not None
            out[q] = _entropy_order(lam, q)
    return out


def vendi(X: np.ndarray, q: float = 1.0, *, center: bool = True) -> float:
    """Vendi score of order ``q`` of the rows of ``X`` (cosine kernel)."""
    return vendi_scores(X, (q,), center=center)[q]


def rankme(F: np.ndarray, eps: float = 1e-7) -> float:
    """RankMe (Garrido et al. 2023): exp of the entropy of the normalised singular values."""
    s = np.linalg.svd(np.asarray(F, dtype=np.float64), compute_uv=False)
    p = s / max(s.sum(), 1e-300) + eps
    return float(np.exp(-np.sum(p * np.log(p))))


def fisher_ratio(Z: np.ndarray, y: np.ndarray) -> float:
    """``tr(S_B) / tr(S_W)``: between-class over within-class scatter of the rows of ``Z``."""
    Z = np.asarray(Z, dtype=np.float64)
    mu = Z.mean(axis=0)
    sb = sw = 0.0
    for c in np.unique(y):
        Zc = Z[y == c]
        mc = Zc.mean(axis=0)
        sb += len(Zc) * float(np.sum((mc - mu) ** 2))
        sw += float(np.sum((Zc - mc) ** 2))
    return sb / sw if sw > 0 else float("inf")


# ----------------------------------------------------------------------------- features
def preprocess(images: np.ndarray, size: int = FEATURE_SIZE) -> np.ndarray:
    """uint8 or [0, 1] float images (N, S, S) or (N, C, S, S) -> float32 grey (N, s, s) in
    [0, 1], area-downsampled to ``s = min(S, size)``."""
    import cv2

    x = np.asarray(images)
    if x.ndim == 4:
        x = x.mean(axis=1) if x.dtype != np.uint8 else x.astype(np.float32).mean(axis=1)
    if x.ndim != 3:
        raise ValueError(f"images must be (N, S, S) or (N, C, S, S), got shape {x.shape}")
    x = x.astype(np.float32) / 255.0 if np.asarray(images).dtype == np.uint8 else x
    x = x.astype(np.float32, copy=False)
    s = x.shape[1]
    if s > size:
        x = np.stack([cv2.resize(im, (size, size), interpolation=cv2.INTER_AREA) for im in x])
    return np.ascontiguousarray(x)


def magnitude_spectra(x: np.ndarray) -> np.ndarray:
    """``|rFFT2(x - mean x)|`` of preprocessed images, (N, s, s // 2 + 1) float32."""
    import torch  # float32 and multi-threaded: several times faster than numpy's pocketfft

    t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    return torch.fft.rfft2(t - t.mean(dim=(1, 2), keepdim=True)).abs().numpy()


def spectral_features(x: np.ndarray, spectra: np.ndarray | None = None) -> np.ndarray:
    """Log-magnitude spectra ``log(1 + |rFFT2(x - mean x)|)``, one row per preprocessed image."""
    m = magnitude_spectra(x) if spectra is None else spectra
    return np.log1p(m).reshape(len(m), -1)


def stratified_sample(labels: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``n`` images (all when fewer), as many from every class as possible: each
    class gives ``n // C``, and ``n % C`` randomly chosen classes give one more. Sorted."""
    labels = np.asarray(labels)
    if n >= len(labels):
        return np.arange(len(labels))
    classes = np.unique(labels)
    rng_classes = rng.permutation(classes)
    per, extra = divmod(n, len(classes))
    want = {int(c): per + (1 if i < extra else 0) for i, c in enumerate(rng_classes)}
    picks = []
    short = 0
    for c in classes:
        idx = np.flatnonzero(labels == c)
        k = want[int(c)]
        if k > len(idx):
            short += k - len(idx)
            k = len(idx)
        picks.append(rng.choice(idx, size=k, replace=False))
    out = np.concatenate(picks) if picks else np.zeros(0, dtype=np.int64)
    if short:  # classes smaller than their share: fill from the rest, still without repeats
        rest = np.setdiff1d(np.arange(len(labels)), out)
        out = np.concatenate([out, rng.choice(rest, size=short, replace=False)])
    return np.sort(out)


def sample_indices(labels: np.ndarray, n: int = N, seed: int = 0) -> np.ndarray:
    """The block's stratified sample of a dataset drawn with ``seed`` (see ``diversity_block``);
    lets a caller move only the sampled images off a device first."""
    return stratified_sample(np.asarray(labels), n, Seeds(seed).rng("diversity", "sample"))


def complexity(x: np.ndarray, spectra: np.ndarray | None = None) -> dict[str, float]:
    """Per-image complexity controls of preprocessed images (float [0, 1], (N, s, s)),
    averaged: ink fraction, Sobel edge density, radial spectral slope, PNG bytes per pixel."""
    import cv2

    n, s, _ = x.shape
    # Sobel 3x3 with OpenCV's default border (reflect-101), vectorised over the stack.
    p = np.pad(x, ((0, 0), (1, 1), (1, 1)), mode="reflect")
    sx = p[:, :, 2:] - p[:, :, :-2]
    gx = sx[:, :-2] + 2 * sx[:, 1:-1] + sx[:, 2:]
    sy = p[:, 2:, :] - p[:, :-2, :]
    gy = sy[:, :, :-2] + 2 * sy[:, :, 1:-1] + sy[:, :, 2:]
    edges = float((gx * gx + gy * gy > (4 * EDGE_THRESHOLD) ** 2).mean())
    u8 = np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)

    def png_bytes(chunk: np.ndarray) -> int:  # OpenCV releases the GIL while encoding
        return sum(
            len(cv2.imencode(".png", im, [cv2.IMWRITE_PNG_COMPRESSION, 6])[1]) for im in chunk
        )

    workers = max(1, min(4, os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool:
        png = sum(pool.map(png_bytes, np.array_split(u8, workers)))
    return {
        "ink": float((x > 0).mean()),
        "edges": edges,
        "spectral_slope": spectral_slope(x, spectra),
        "png_bpp": png / (n * s * s),
    }


def spectral_slope(x: np.ndarray, spectra: np.ndarray | None = None) -> float:
    """Mean over images of the least-squares slope of log radial power vs log frequency
    (integer radii 1 .. s/2 - 1 of the power spectrum); natural images are near -2."""
    n, s, _ = x.shape
    radii = np.arange(1, s // 2)
    if radii.size < 2:
        return float("nan")
    m = magnitude_spectra(x) if spectra is None else spectra
    fy = np.fft.fftfreq(s) * s
    fx = np.fft.rfftfreq(s) * s
    r = np.rint(np.hypot(fy[:, None], fx[None, :])).astype(np.int64).ravel()
    onehot = (r[:, None] == radii[None, :]).astype(np.float32)  # (s * (s//2+1), radii)
    radial = (m.reshape(n, -1) ** 2) @ onehot / onehot.sum(axis=0)
    lx = np.log(radii)
    ly = np.log(np.maximum(radial, 1e-12))
    lxc = lx - lx.mean()
    slopes = (ly - ly.mean(axis=1, keepdims=True)) @ lxc / np.sum(lxc * lxc)
    return float(np.mean(slopes))


# ----------------------------------------------------------------------------- the block
def diversity_block(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    n: int = N,
    seed: int = 0,
    size: int = FEATURE_SIZE,
    augment: Augment | None = None,
) -> dict[str, Any]:
    """The diversity block of a dataset (keys without the ``diversity/`` prefix).

    ``images``: uint8 (N, S, S) (or float in [0, 1]); ``labels``: class per image. The sample
    is drawn from ``Seeds(seed).rng("diversity", "sample")``. ``augment`` maps the sampled
    images (uint8, native size) to augmented images (uint8 or [0, 1] floats); without it the
    ``aug_*`` keys are absent.
    """
    t0 = time.perf_counter()
    labels = np.asarray(labels)
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    if len(images) < 2:
        raise ValueError("the diversity block needs at least 2 images")
    idx = sample_indices(labels, n, seed)
    sample, y = np.asarray(images)[idx], labels[idx]
    x = preprocess(sample, size)
    spectra = magnitude_spectra(x)
    Z = _normalised(spectral_features(x, spectra), center=True, dtype=np.float32)
    m = len(Z)
    K = (Z @ Z.T).astype(np.float64)
    out: dict[str, Any] = {
        "vendi_q1": vendi_from_kernel(K, 1),
        "vendi_q2": float(m * m / np.sum(K * K)),
    }
    within = []
    for c in np.unique(y):
        sel = np.flatnonzero(y == c)
        if len(sel) >= 2:
            within.append(vendi_from_kernel(K[np.ix_(sel, sel)], 1))
    out["within_vendi_q1"] = float(np.mean(within)) if within else None
    out["between_within"] = out["vendi_q1"] / out["within_vendi_q1"] if within else None
    out["fisher"] = fisher_ratio(Z, y) if within else None
    if augment is not None:
        xa = preprocess(augment(sample), size)
        va = vendi_scores(spectral_features(xa), (1, 2), dtype=np.float32)
        out["aug_vendi_q1"], out["aug_vendi_q2"] = va[1], va[2]
    out.update(complexity(x, spectra))
    out["n"] = m
    out["feature_size"] = x.shape[1]
    out[DIVERSITY_TIME] = time.perf_counter() - t0
    return out


def feature_block(F: np.ndarray, *, n: int = N, seed: int = 0, key: str = "") -> dict[str, float]:
    """RankMe and Vendi (q=1) of model features ``F`` (rows), on at most ``n`` rows drawn with
    a keyed seed."""
    F = np.asarray(F, dtype=np.float64)
    if len(F) > n:
        F = F[np.sort(Seeds(seed).rng("diversity", "features", key).choice(len(F), n, False))]
    return {RANKME: rankme(F), FEATURE_VENDI: vendi(F, 1)}
