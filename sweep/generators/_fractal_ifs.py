"""The iterated-function-system machinery of the fractal generators (:mod:`.fractal`): the chaos
game, its normalisation to pixels and the patch drawing, on the CPU (Numba kernels) and on a torch
device (a parallel prefix scan and scatter-max stamping). See :mod:`sweep.generators.fractal` for
the rules both paths implement.

Per-point masks come from a counter-based hash (:mod:`sweep.generators._hashrng`) keyed by
``Seeds.key32("mask", ...)``, so the CPU (Numba) and device (torch) renderers use the same masks
and the same map sequence. The CPU path iterates the chain sequentially; the device path
computes every point at once as a parallel prefix composition of the affine maps (a
Hillis-Steele scan in float64), which is the same chain up to float rounding, so the two agree
pixel for pixel except where rounding moves a point across a pixel border (on an H100, 3
FractalDB classes x 1000 images at 362 px and 20 1p-frac classes at 512 px came out
byte-identical to the CPU path).

Imports: numpy, Numba, torch (lazily); :mod:`sweep.generators._hashrng`,
:mod:`sweep.generators.base`, :mod:`sweep.seeding`.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from sweep.generators import _hashrng as hr
from sweep.generators.base import REFERENCE_SIZE
from sweep.seeding import Seeds

GREY = 127  # the official patch_gray / point_gray level
CUT = 100  # points dropped before a chain diverges (the official NaN rule)
BIG = 1e150  # |coordinate| beyond which a chain counts as diverged (see .fractal's docstring)

# ============================================================================ CPU kernels


# The project's 32-bit mixer (sweep.generators._hashrng.mix32), compiled for the kernels.
_mix32 = njit(cache=True, nogil=True, inline="always")(hr.mix32)


@njit(cache=True, nogil=True)
def _chaos_pixels(maps, u, cum, size, pad):
    """Chaos game from the origin, cut at divergence, mapped to pixels: (px, py, n_valid).

    Step k applies the first map j with ``u[k] <= cum[j]`` (the last one if none).
    """
    m = u.shape[0] + 1
    last = cum.shape[0] - 1
    xs = np.empty(m, np.float64)
    ys = np.empty(m, np.float64)
    xs[0] = 0.0
    ys[0] = 0.0
    x = 0.0
    y = 0.0
    n = m
    for k in range(1, m):
        uk = u[k - 1]
        j = 0
        while j < last and uk > cum[j]:
            j += 1
        nx = maps[j, 0] * x + maps[j, 1] * y + maps[j, 4]
        ny = maps[j, 2] * x + maps[j, 3] * y + maps[j, 5]
        x = nx
        y = ny
        if not (math.isfinite(x) and math.isfinite(y)) or abs(x) > BIG or abs(y) > BIG:
            n = max(k - CUT, 0)
            break
        xs[k] = x
        ys[k] = y
    px = np.zeros(n, np.int64)
    py = np.zeros(n, np.int64)
    if n == 0:
        return px, py, n
    xmin = xs[0]
    xmax = xs[0]
    ymin = ys[0]
    ymax = ys[0]
    for k in range(1, n):
        xmin = min(xmin, xs[k])
        xmax = max(xmax, xs[k])
        ymin = min(ymin, ys[k])
        ymax = max(ymax, ys[k])
    span = size - 2.0 * pad
    dx = xmax - xmin
    dy = ymax - ymin
    for k in range(n):
        u = (xs[k] - xmin) / dx if dx > 0.0 else 0.0
        v = (ys[k] - ymin) / dy if dy > 0.0 else 0.0
        ix = np.int64(math.floor(u * span + pad)) if math.isfinite(u) else 0
        iy = np.int64(math.floor(v * span + pad)) if math.isfinite(v) else 0
        px[k] = min(max(ix, 0), size - 1)
        py[k] = min(max(iy, 0), size - 1)
    return px, py, n


@njit(cache=True, nogil=True)
def _stamp(canvas, px, py, n, mode, skey, grey):
    """Draw n points into a zeroed (S, S) canvas, in order (later points overwrite)."""
    size = canvas.shape[0]
    for k in range(n):
        x = px[k]
        y = py[k]
        if mode == 0:
            canvas[y, x] = grey
            continue
        if mode == 1:
            h = _mix32(skey + ((k * 0x9E3779B9) & 0xFFFFFFFF))
            mask = 1 + ((h * 511) >> 32)
        else:
            mask = 511
        for i in range(3):
            r = y + 1 + i
            if r >= size:
                break
            for j in range(3):
                c = x + 1 + j
                if c >= size:
                    break
                if (mask >> (8 - 3 * i - j)) & 1:
                    canvas[r, c] = grey
                else:
                    canvas[r, c] = 0


@njit(cache=True, nogil=True)
def _point_fill(maps, u, cum, size, pad):
    """Filling rate of the point rendering: distinct pixels hit / all pixels."""
    px, py, n = _chaos_pixels(maps, u, cum, size, pad)
    grid = np.zeros(size * size, np.uint8)
    count = 0
    for k in range(n):
        p = py[k] * size + px[k]
        if grid[p] == 0:
            grid[p] = 1
            count += 1
    return count / (size * size)


# ============================================================================ helpers


def map_probabilities(maps: np.ndarray) -> np.ndarray:
    """p_j = |a_j d_j - b_j c_j| / sum (NaN-free only when the sum is positive)."""
    maps = np.asarray(maps, dtype=np.float64)
    det = np.abs(maps[:, 0] * maps[:, 3] - maps[:, 1] * maps[:, 2])
    return det / det.sum()


def cumulative(probs) -> np.ndarray:
    return np.cumsum(np.asarray(probs, dtype=np.float64))


def map_sequence(u: np.ndarray, probs) -> np.ndarray:
    """Map indices of the chaos game: the first j with u <= cumsum(p)_j (last map if none).

    The CPU kernel makes the same choice inline; the device path uses this array.
    """
    cum = cumulative(probs)
    idx = np.searchsorted(cum, u, side="left")
    return np.minimum(idx, len(cum) - 1).astype(np.int64)


def chaos_uniforms(seeds: Seeds, class_index: int, points: int) -> np.ndarray:
    """The chaos game's uniforms for class ``class_index``, shared by all its images."""
    return seeds.rng("chaos", class_index).random(max(points - 1, 0))


def chaos_sequence(seeds: Seeds, class_index: int, probs, points: int) -> np.ndarray:
    """The map sequence of class ``class_index``, shared by all its images."""
    return map_sequence(chaos_uniforms(seeds, class_index, points), probs)


def point_cloud(maps, u: np.ndarray, probs, size: int, pad: float):
    """Pixel coordinates (px, py) of the chaos game's valid points (CPU)."""
    px, py, n = _chaos_pixels(
        np.ascontiguousarray(maps, dtype=np.float64), u, cumulative(probs), size, pad
    )
    return px[:n], py[:n]


def draw_cpu(px: np.ndarray, py: np.ndarray, size: int, mode: int, skey: int) -> np.ndarray:
    """One image (S, S) uint8: the points stamped in order, then flipped top-bottom."""
    canvas = np.zeros((size, size), dtype=np.uint8)
    _stamp(canvas, px, py, len(px), int(mode), np.int64(skey), np.uint8(GREY))
    return canvas[::-1]


def point_fill(maps, u: np.ndarray, probs, size: int = REFERENCE_SIZE, pad: float = 6.0) -> float:
    """The official category-search filling rate of a point rendering."""
    maps = np.ascontiguousarray(maps, dtype=np.float64)
    return float(_point_fill(maps, u, cumulative(probs), size, pad))


def flip_image(img: np.ndarray, flip: int) -> np.ndarray:
    """Official flips of one (S, S) image: 0 none, 1 top-bottom, 2 left-right, 3 both."""
    if flip == 0:
        return img
    return {1: img[::-1], 2: img[:, ::-1], 3: img[::-1, ::-1]}[flip]


def flip_batch(t, flip: int):
    """The same flips of a torch batch (n, S, S)."""
    return {1: t.flip(1), 2: t.flip(2), 3: t.flip((1, 2))}[flip]


# ============================================================================ device path


def torch_point_clouds(maps, idx, size: int, pad: float, device):
    """Pixel coordinates of V chaos games sharing one map sequence, on a torch device.

    ``maps``: (V, N, 6) float64; ``idx``: (m,) map sequence. Every point is the translation of a
    prefix composition of the chosen maps applied to the origin, computed by a Hillis-Steele
    scan (log2 m rounds of elementwise float64 ops, each a separate kernel: deterministic and
    independent of V). Returns px, py (V, m + 1) int64 and n_valid (V,) int64.
    """
    import torch

    dev = torch.device(device)
    maps_t = torch.as_tensor(np.asarray(maps, dtype=np.float64), device=dev)
    idx_t = torch.as_tensor(np.asarray(idx, dtype=np.int64), device=dev)
    n_var = maps_t.shape[0]
    m = int(idx_t.numel())
    x = maps_t[:, idx_t].permute(2, 0, 1).contiguous()  # (6, V, m): a..f of each step's map
    off = 1
    while off < m:
        la, lb, lc, ld, le, lf = x[:, :, off:].unbind(0)  # the later maps
        ea, eb, ec, ed, ee, ef = x[:, :, :-off].unbind(0)  # the prefixes before them
        x[:, :, off:] = torch.stack(
            [
                la * ea + lb * ec,
                la * eb + lb * ed,
                lc * ea + ld * ec,
                lc * eb + ld * ed,
                (la * ee + lb * ef) + le,
                (lc * ee + ld * ef) + lf,
            ]
        )
        off *= 2
    zero = torch.zeros((n_var, 1), dtype=torch.float64, device=dev)
    xs = torch.cat([zero, x[4]], dim=1)
    ys = torch.cat([zero, x[5]], dim=1)
    del x
    total = m + 1
    bad = ~(torch.isfinite(xs) & torch.isfinite(ys)) | (xs.abs() > BIG) | (ys.abs() > BIG)
    first = bad.to(torch.int8).argmax(dim=1)
    n_valid = torch.where(
        bad.any(dim=1), (first - CUT).clamp(min=0), torch.full_like(first, total)
    ).to(torch.int64)
    valid = torch.arange(total, device=dev)[None, :] < n_valid[:, None]

    def axis(v):
        inf = torch.full_like(v, math.inf)
        lo = torch.where(valid, v, inf).amin(dim=1, keepdim=True)
        hi = torch.where(valid, v, -inf).amax(dim=1, keepdim=True)
        span = hi - lo
        ok = span > 0
        u = torch.where(ok, (v - lo) / torch.where(ok, span, torch.ones_like(span)), 0.0)
        p = torch.floor(u * (size - 2.0 * pad) + pad)
        p = torch.where(valid & torch.isfinite(p), p, 0.0)
        return p.clamp(0, size - 1).to(torch.int64)

    return axis(xs), axis(ys), n_valid


def torch_draw(px, py, n_valid, which, skeys, size: int, mode: int):
    """Stamp J images: image j draws point cloud ``which[j]`` with mask key ``skeys[j]``.

    Later points overwrite earlier ones: each pixel keeps the code 2k + bit of the last point k
    covering it (a scatter ``amax``, order-independent hence deterministic). Returns (J, S, S)
    uint8, flipped top-bottom like the CPU path.
    """
    import torch

    dev = px.device
    n_img = len(which)
    total = px.shape[1]
    which_t = torch.as_tensor(np.asarray(which, dtype=np.int64), device=dev)
    k = torch.arange(total, device=dev, dtype=torch.int64)[None, :]
    cx = px[which_t]
    cy = py[which_t]
    valid = k < n_valid[which_t][:, None]
    base = torch.arange(n_img, device=dev, dtype=torch.int64)[:, None] * (size * size)
    dump = n_img * size * size  # out-of-canvas writes land in one extra slot
    canvas = torch.full((dump + 1,), -1, dtype=torch.int64, device=dev)
    if mode == 0:
        target = torch.where(valid, base + cy * size + cx, dump)
        canvas.scatter_reduce_(
            0, target.reshape(-1), (2 * k + 1).expand_as(target).reshape(-1), reduce="amax"
        )
    else:
        if mode == 1:
            sk = torch.as_tensor(np.asarray(skeys, dtype=np.int64), device=dev)[:, None]
            mask = 1 + ((hr.u32(sk, k) * 511) >> 32)
        else:
            mask = torch.full((n_img, total), 511, dtype=torch.int64, device=dev)
        for i in range(3):
            r = cy + 1 + i
            for j in range(3):
                col = cx + 1 + j
                inside = valid & (r < size) & (col < size)
                target = torch.where(inside, base + r * size + col, dump)
                code = 2 * k + ((mask >> (8 - 3 * i - j)) & 1)
                canvas.scatter_reduce_(0, target.reshape(-1), code.reshape(-1), reduce="amax")
    img = canvas[:dump].view(n_img, size, size)
    drawn = (img >= 0) & ((img & 1) == 1)
    out = torch.where(drawn, GREY, 0).to(torch.uint8)
    return out.flip(1)


def chunks(n: int, per: int):
    """``(start, stop)`` of consecutive slices of at most ``per`` (at least 1) items of ``n``."""
    per = max(1, per)
    for s in range(0, n, per):
        yield s, min(n, s + per)


DEVICE_ELEMS = 1 << 25  # elements per device work chunk (bounds temporary memory)
