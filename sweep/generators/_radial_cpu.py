"""The radial generators' CPU kernels (Numba), imported on first use so that processes that
only validate or coordinate (the ``sweep generate`` launcher) do not load the Numba runtime.

See :mod:`sweep.generators._radial` for the geometry and the DDA rule these kernels implement.

Imports: numpy, Numba; :mod:`sweep.generators._hashrng`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from sweep.generators import _hashrng as hr

# The project's 32-bit mixer (sweep.generators._hashrng.mix32), compiled for the kernels.
_mix32 = njit(cache=True, nogil=True, inline="always")(hr.mix32)


@njit(cache=True, nogil=True, inline="always")
def _walk_inside(flat, x0, y0, x1, y1, g, size):
    """Rasterise a segment whose both ends are inside the canvas (so all its pixels are):
    walk the flat index; the minor axis follows the module docstring's DDA rule by remainder."""
    dx = x1 - x0
    dy = y1 - y0
    if abs(dx) >= abs(dy):  # x is the major axis: x moves every step, y by the remainder rule
        n = abs(dx)
        major = 1 if dx >= 0 else -1
        minor = size
        step = 2 * dy
    else:
        n = abs(dy)
        major = size if dy >= 0 else -size
        minor = 1
        step = 2 * dx
    two_n = 2 * n
    rb = n
    idx = y0 * size + x0
    for _ in range(n + 1):
        flat[np.uint64(idx)] = g  # unsigned: no negative-index wraparound test
        rb += step
        carry = np.int64(rb >= two_n) - np.int64(rb < 0)  # branch-free remainder rule
        rb -= carry * two_n
        idx += major + carry * minor


@njit(cache=True, nogil=True, inline="always")
def _draw_segment(flat, x0, y0, x1, y1, g, size):
    """Rasterise any segment (the module docstring's DDA rule), clipped to the canvas."""
    if (x0 < 0 and x1 < 0) or (y0 < 0 and y1 < 0):
        return
    if (x0 >= size and x1 >= size) or (y0 >= size and y1 >= size):
        return
    if 0 <= x0 < size and 0 <= x1 < size and 0 <= y0 < size and 0 <= y1 < size:
        _walk_inside(flat, x0, y0, x1, y1, g, size)
        return
    # Partly outside: track the major (a) and minor (b) coordinates and test each pixel.
    dx = x1 - x0
    dy = y1 - y0
    x_major = abs(dx) >= abs(dy)
    if x_major:
        n, sa, step, a, b = abs(dx), (1 if dx >= 0 else -1), 2 * dy, x0, y0
    else:
        n, sa, step, a, b = abs(dy), (1 if dy >= 0 else -1), 2 * dx, y0, x0
    two_n = 2 * n
    rb = n
    for _ in range(n + 1):
        x, y = (a, b) if x_major else (b, a)
        if 0 <= x < size and 0 <= y < size:
            flat[np.uint64(y * size + x)] = g
        a += sa
        rb += step
        if rb >= two_n:
            rb -= two_n
            b += 1
        elif rb < 0:
            rb += two_n
            b -= 1


@njit(cache=True, nogil=True)
def draw_radial(
    canvas, cos_s, sin_s, wave, k_orbits, r0x, r0y, ew, coef, cx, cy, table, skey, greys
):
    q = cos_s.shape[0]
    size = canvas.shape[0]
    flat = canvas.reshape(-1)
    cumx = np.zeros(q, np.int64)
    cumy = np.zeros(q, np.int64)
    xs = np.empty(q + 1, np.int64)
    ys = np.empty(q + 1, np.int64)
    for k in range(k_orbits):
        kk = k + 1.0
        base = k * q
        x_lo = y_lo = np.int64(1) << 62
        x_hi = y_hi = -x_lo
        for i in range(q):
            h = _mix32(skey + (((base + i) * 0x9E3779B9) & 0xFFFFFFFF))
            cumx[i] += table[h & 0xFFFF]
            cumy[i] += table[h >> 16]
            common = kk * (ew + wave[i])
            x = np.int64(cx + cos_s[i] * ((r0x + common) - coef * cumx[i]))
            y = np.int64(cy + sin_s[i] * ((r0y + common) - coef * cumy[i]))
            xs[i] = x
            ys[i] = y
            x_lo = min(x_lo, x)
            x_hi = max(x_hi, x)
            y_lo = min(y_lo, y)
            y_hi = max(y_hi, y)
        if x_hi < 0 or y_hi < 0 or x_lo >= size or y_lo >= size:
            continue  # the whole orbit lies beyond one edge of the canvas
        xs[q] = xs[0]
        ys[q] = ys[0]
        g = np.uint8(greys[k])
        if x_lo >= 0 and y_lo >= 0 and x_hi < size and y_hi < size:
            for i in range(q):  # the whole orbit is inside: no clipping tests
                _walk_inside(flat, xs[i], ys[i], xs[i + 1], ys[i + 1], g, size)
        else:
            for i in range(q):
                _draw_segment(flat, xs[i], ys[i], xs[i + 1], ys[i + 1], g, size)
