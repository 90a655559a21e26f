"""The 3-D IFS machinery of :mod:`sweep.generators.exfractaldb`: the chaos game, the official
normalisation of its point cloud, the perspective camera and the 1-px point drawing, on the CPU
(Numba kernels) and on a torch device (a parallel prefix scan and a scatter).

A map is 12 numbers ``a..l`` acting as ``x' = a x + b y + c z + j``, ``y' = d x + e y + f z + k``,
``z' = g x + h y + i z + l`` (the official ``ifs_function`` layout: the 3x3 matrix row-major, then
the translation). The CPU path iterates the chain sequentially with the official operation order,
so its clouds are bit-identical to the official numpy code fed the same uniforms
(``benchmarks/exfractaldb_faithfulness.py`` checks this); the device path composes the maps with a
Hillis-Steele scan in float64, the same chain up to float rounding. Both paths project with the
same float64 formula, so they differ only where rounding moves a point across a pixel border.

Imports: numpy, Numba, torch (lazily).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

WHITE = 255  # the official point colour (vertex colour 1.0 on a black clear colour)
DEVICE_ELEMS = 1 << 25  # elements per device work chunk (bounds temporary memory)
FIXED = float(2**40)  # fixed-point scale of the device path's centroid sums
MAX_POINTS = 1 << 20  # at most this many points per cloud (the fixed-point sums cannot overflow)

# ============================================================================ CPU kernels


@njit(cache=True, nogil=True)
def _chain(maps, cum, u):
    """The official chaos game from the origin: (points (3, m), ok).

    Step k applies the first map j with ``u[k] <= cum[j]``; when none qualifies (float rounding
    of the cumulative sum) the point repeats, as the official loop does. The origin is not kept.
    ``ok`` is False (and the points are partial) if a coordinate overflows (the official code
    then yields NaN).
    """
    m = u.shape[0]
    n = cum.shape[0]
    pts = np.zeros((3, m), np.float64)
    x = 0.0
    y = 0.0
    z = 0.0
    for k in range(m):
        uk = u[k]
        j = 0
        while j < n and uk > cum[j]:
            j += 1
        if j < n:
            nx = x * maps[j, 0] + y * maps[j, 1] + z * maps[j, 2] + maps[j, 9]
            ny = x * maps[j, 3] + y * maps[j, 4] + z * maps[j, 5] + maps[j, 10]
            nz = x * maps[j, 6] + y * maps[j, 7] + z * maps[j, 8] + maps[j, 11]
            x = nx
            y = ny
            z = nz
        if not (math.isfinite(x) and math.isfinite(y) and math.isfinite(z)):
            return pts, False
        pts[0, k] = x
        pts[1, k] = y
        pts[2, k] = z
    return pts, True


@njit(cache=True, nogil=True)
def _normalise(pts, points):
    """The official ``min_max`` (one min and max over all coordinates, to [-1, 1]) then
    ``centoroid`` (sequential sums divided by ``points``, the official ``point_num``, although
    the cloud holds ``points - 1``). Returns (cloud, ok); ok is False if the cloud is a point."""
    m = pts.shape[1]
    lo = pts[0, 0]
    hi = pts[0, 0]
    for a in range(3):
        for k in range(m):
            v = pts[a, k]
            lo = min(lo, v)
            hi = max(hi, v)
    out = np.empty_like(pts)
    span = hi - lo
    if not span > 0.0:
        return out, False
    for a in range(3):
        s = 0.0
        for k in range(m):
            q = (pts[a, k] - lo) / span * 2.0 - 1.0
            out[a, k] = q
            s += q
        c = s / points
        if not math.isfinite(c):  # an overflowing span (the official NaN)
            return out, False
        for k in range(m):
            out[a, k] = out[a, k] - c
    return out, True


@njit(cache=True, nogil=True)
def _stamp(canvas, cloud, cam, focal, near, far, grey):
    """Project ``cloud`` (3, m) with camera ``cam`` and set each visible point's pixel.

    ``cam``: eye (3), right s (3), up u (3), forward f (3). A point at eye-space (s.d, u.d) with
    depth f.d (d = p - eye) lands at window x = (focal s.d / f.d + 1) S/2 (y likewise), pixel
    (floor(y), floor(x)): row 0 is the window's bottom row, as ``glReadPixels`` stores it.
    Points outside [near, far] in depth or outside the window are clipped, as OpenGL does.
    """
    size = canvas.shape[0]
    half = size / 2.0
    ex, ey, ez = cam[0], cam[1], cam[2]
    sx, sy, sz = cam[3], cam[4], cam[5]
    ux, uy, uz = cam[6], cam[7], cam[8]
    fx, fy, fz = cam[9], cam[10], cam[11]
    for k in range(cloud.shape[1]):
        dx = cloud[0, k] - ex
        dy = cloud[1, k] - ey
        dz = cloud[2, k] - ez
        de = fx * dx + fy * dy + fz * dz
        if not (de >= near and de <= far):
            continue
        xe = sx * dx + sy * dy + sz * dz
        ye = ux * dx + uy * dy + uz * dz
        xw = (focal * xe / de + 1.0) * half
        yw = (focal * ye / de + 1.0) * half
        if not (xw >= 0.0 and xw < size and yw >= 0.0 and yw < size):
            continue
        canvas[math.floor(yw), math.floor(xw)] = grey


# ============================================================================ helpers


def sequential_sum(values) -> float:
    """Left-to-right float sum (the official Python loop's order)."""
    s = 0.0
    for v in values:
        s += float(v)
    return s


def map_probabilities(maps) -> np.ndarray:
    """p_j = |det A_j| / sum, the official ``np.linalg.det`` and running sum."""
    maps = np.asarray(maps, dtype=np.float64)
    det = np.array([abs(np.linalg.det(row[:9].reshape(3, 3))) for row in maps])
    total = sequential_sum(det)
    return det / total if total > 0 else np.full(len(det), np.nan)


def cumulative(probs) -> np.ndarray:
    """Running sums of the probabilities (the official ``select_function``)."""
    out = np.empty(len(probs))
    s = 0.0
    for i, p in enumerate(probs):
        s += float(p)
        out[i] = s
    return out


def chain(maps, probs, u: np.ndarray) -> tuple[np.ndarray, bool]:
    """The raw chaos-game points (3, len(u)) for uniforms ``u``, and whether they are finite."""
    maps = np.ascontiguousarray(maps, dtype=np.float64)
    return _chain(maps, cumulative(probs), np.ascontiguousarray(u, dtype=np.float64))


def cloud(maps, probs, u: np.ndarray, points: int) -> tuple[np.ndarray, bool]:
    """The official point cloud (3, len(u)) of an IFS for uniforms ``u``, and whether it is
    finite (no coordinate overflowed and the cloud is not a single point: the official NaN)."""
    pts, ok = chain(maps, probs, u)
    if not ok:
        return pts, False
    return _normalise(pts, float(points))


def cameras(azimuth, elevation, distance: float) -> np.ndarray:
    """Eye, right, up and forward vectors (n, 12) of the official orbit camera, angles in rad.

    The official rotation R = R_y(azimuth) (elevation 0); here R = R_y(azimuth) R_z(elevation).
    The camera looks along f = R (1, 0, 0) at the origin from distance ``distance``, with up
    R (0, 1, 0); right and up are re-derived as ``glm.lookAt`` does.
    """
    az = np.atleast_1d(np.asarray(azimuth, dtype=np.float64))
    el = np.broadcast_to(np.asarray(elevation, dtype=np.float64), az.shape)
    ca, sa, ce, se = np.cos(az), np.sin(az), np.cos(el), np.sin(el)
    f = np.stack([ce * ca, se, -ce * sa], axis=1)
    up = np.stack([-se * ca, ce, se * sa], axis=1)
    s = np.cross(f, up)
    s /= np.linalg.norm(s, axis=1, keepdims=True)
    u = np.cross(s, f)
    return np.concatenate([-distance * f, s, u, f], axis=1)


def camera(azimuth: float, elevation: float, distance: float) -> np.ndarray:
    """One camera (12,): :func:`cameras` for a single view."""
    return cameras([azimuth], [elevation], distance)[0]


def focal_length(fov_deg: float) -> float:
    """1 / tan(fovy / 2), the (1, 1) entry of ``glm.perspective``."""
    return 1.0 / math.tan(math.radians(fov_deg) / 2.0)


@njit(cache=True, nogil=True)
def _stamp_all(out, clouds, ok, which, cams, focal, near, far, grey):
    for i in range(out.shape[0]):
        j = which[i]
        if ok[j]:
            _stamp(out[i], clouds[j], cams[i], focal, near, far, grey)


def draw_cpu(
    cloud_: np.ndarray, cam: np.ndarray, size: int, focal: float, near: float, far: float
) -> np.ndarray:
    """One (S, S) uint8 image: every visible point of ``cloud_`` in white on black."""
    canvas = np.zeros((size, size), dtype=np.uint8)
    _stamp(canvas, np.ascontiguousarray(cloud_), cam, focal, near, far, np.uint8(WHITE))
    return canvas


def draw_many(
    clouds: np.ndarray,
    ok: np.ndarray,
    which,
    cams: np.ndarray,
    size: int,
    focal: float,
    near: float,
    far: float,
) -> np.ndarray:
    """Images (I, S, S) uint8: image i draws cloud ``which[i]`` (none if not ``ok``) with
    camera ``cams[i]``."""
    out = np.zeros((len(which), size, size), dtype=np.uint8)
    _stamp_all(
        out,
        np.ascontiguousarray(clouds, dtype=np.float64),
        np.asarray(ok, dtype=np.bool_),
        np.asarray(which, dtype=np.int64),
        np.ascontiguousarray(cams, dtype=np.float64),
        focal,
        near,
        far,
        np.uint8(WHITE),
    )
    return out


def map_sequence(u: np.ndarray, probs) -> np.ndarray:
    """Map index of every step: the first j with u <= cum_j, or n (= stay) if none."""
    return np.searchsorted(cumulative(probs), u, side="left").astype(np.int64)


def chunks(n: int, per: int):
    """``(start, stop)`` of consecutive slices of at most ``per`` (at least 1) items of ``n``."""
    per = max(1, per)
    for s in range(0, n, per):
        yield s, min(n, s + per)


# ============================================================================ device path


def torch_clouds(maps, idx, points: int, device):
    """Normalised clouds of J chains, on a torch device.

    ``maps``: (J, n, 12) float64, each job's (weighted) maps; ``idx``: (J, m) int64 map index
    per step, ``n`` meaning "stay" (the identity). Every point is the translation of a prefix
    composition of the chosen maps (a Hillis-Steele scan, log2 m rounds of elementwise float64
    ops). Returns (clouds (J, 3, m) float64, ok (J,) bool); a cloud is not ok when a coordinate
    turns non-finite, or when it is a single point.
    """
    import torch

    dev = torch.device(device)
    maps_t = torch.as_tensor(np.asarray(maps, dtype=np.float64), device=dev)
    n_job, n_map = maps_t.shape[0], maps_t.shape[1]
    ident = torch.tensor([1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0], dtype=torch.float64, device=dev)
    table = torch.cat([maps_t, ident.expand(n_job, 1, 12)], dim=1)  # (J, n + 1, 12)
    idx_t = torch.as_tensor(np.asarray(idx, dtype=np.int64), device=dev).clamp(max=n_map)
    m = idx_t.shape[1]
    x = torch.gather(table, 1, idx_t[:, :, None].expand(n_job, m, 12))  # (J, m, 12)
    x = x.permute(2, 0, 1).contiguous()  # (12, J, m)
    off = 1
    while off < m:
        la = x[:, :, off:]  # the later maps
        ea = x[:, :, :-off]  # the prefixes before them
        rows = []
        for r in range(3):
            for c in range(3):
                rows.append(
                    la[3 * r] * ea[c] + la[3 * r + 1] * ea[3 + c] + la[3 * r + 2] * ea[6 + c]
                )
        for r in range(3):
            rows.append(
                la[3 * r] * ea[9] + la[3 * r + 1] * ea[10] + la[3 * r + 2] * ea[11] + la[9 + r]
            )
        x[:, :, off:] = torch.stack(rows)
        off *= 2
    pts = x[9:12].permute(1, 0, 2).contiguous()  # (J, 3, m)
    del x
    bad = ~torch.isfinite(pts)
    ok = ~bad.flatten(1).any(dim=1)
    safe = torch.where(ok[:, None, None], pts, torch.zeros_like(pts))
    lo = safe.flatten(1).amin(dim=1)[:, None, None]
    hi = safe.flatten(1).amax(dim=1)[:, None, None]
    span = hi - lo
    ok &= span.reshape(-1) > 0
    span = torch.where(span > 0, span, torch.ones_like(span))
    q = (safe - lo) / span * 2.0 - 1.0
    # The centroid as an exact fixed-point sum (q in [-1, 1] rounded to 2**-40; at most 2**20
    # points): order-independent, hence the same for any batch on any device; it differs from
    # the CPU path's sequential float sum by about 1e-12, far below a pixel.
    fixed = torch.round(q * FIXED).to(torch.int64).sum(dim=2, keepdim=True)
    q = q - (fixed.to(torch.float64) / FIXED) / points
    ok &= torch.isfinite(q).flatten(1).all(dim=1)
    return q, ok


def torch_draw(clouds, which, cams, size: int, focal: float, near: float, far: float):
    """Images (I, S, S) uint8: image i projects cloud ``which[i]`` with camera ``cams[i]``.

    The same float64 formula as the CPU kernel :func:`_stamp`, one op at a time.
    """
    import torch

    dev = clouds.device
    n_img = len(which)
    which_t = torch.as_tensor(np.asarray(which, dtype=np.int64), device=dev)
    cam = torch.as_tensor(np.asarray(cams, dtype=np.float64).reshape(n_img, 12), device=dev)
    c = [cam[:, i : i + 1] for i in range(12)]
    pts = clouds[which_t]  # (I, 3, m)
    dx = pts[:, 0] - c[0]
    dy = pts[:, 1] - c[1]
    dz = pts[:, 2] - c[2]
    de = c[9] * dx + c[10] * dy + c[11] * dz
    xe = c[3] * dx + c[4] * dy + c[5] * dz
    ye = c[6] * dx + c[7] * dy + c[8] * dz
    del dx, dy, dz
    half = size / 2.0
    xw = (focal * xe / de + 1.0) * half
    yw = (focal * ye / de + 1.0) * half
    vis = (de >= near) & (de <= far) & (xw >= 0) & (xw < size) & (yw >= 0) & (yw < size)
    col = torch.where(vis, torch.floor(xw), 0.0).to(torch.int64)
    row = torch.where(vis, torch.floor(yw), 0.0).to(torch.int64)
    base = torch.arange(n_img, device=dev, dtype=torch.int64)[:, None] * (size * size)
    dump = n_img * size * size  # clipped points land in one extra slot
    target = torch.where(vis, base + row * size + col, dump).reshape(-1)
    canvas = torch.zeros(dump + 1, dtype=torch.uint8, device=dev)
    canvas.index_fill_(0, target, WHITE)
    return canvas[:dump].view(n_img, size, size)
