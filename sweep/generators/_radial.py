"""Shared machinery of the radial-contour generators (VisualAtom and RCDB).

Both draw K closed orbits of q vertices around a centre. Orbit k (1-based) moves every vertex
outwards along its ray theta_i = 2 pi i / q:

    r_i^k = r_i^(k-1) + eta (1 - j p_ik) + S(theta_i) + w,      r_i^0 = r0 * a

with p_ik the official Perlin noise (:mod:`~sweep.generators._perlin`), j the jitter factor
(1 for VisualAtom, 2 for RCDB), S the wave (zero for RCDB) and a the oval rate of the axis;
x and y use independent noise. In closed form

    r_i^k = r0 a + k (eta + w + S(theta_i)) - j eta sum_{m<=k} p_im

and the noise sum is an exact integer sum of table entries. Vertex coordinates are truncated
toward zero, as Pillow does with float coordinates, and each orbit is drawn as a closed
polyline of 1-px, unantialiased, 8-connected segments in its grey level, later orbits over
earlier ones.

Segments are rasterised by integer DDA: the pixel at step t of a segment with major length n is
``p0 + floor((2 t d + n) / 2n)`` on each axis, t = 0..n. The CPU (Numba) and device (torch)
renderers evaluate exactly this, with the same random numbers (:mod:`~sweep.generators._hashrng`),
so they agree pixel for pixel except where float rounding moves a vertex across a pixel border.

Imports: numpy, torch and Triton (lazily); :mod:`sweep.generators._hashrng`,
:mod:`sweep.generators._perlin`, :mod:`sweep.generators._radial_cpu` and
:mod:`sweep.generators._radial_triton` (lazily), :mod:`sweep.generators.base`,
:mod:`sweep.seeding`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from sweep.generators import _hashrng as hr
from sweep.generators._perlin import NOISE_UNIT, noise_table
from sweep.generators.base import REFERENCE_SIZE, Generator
from sweep.seeding import Seeds


@dataclass(frozen=True)
class Orbits:
    """Everything one image of a radial generator needs, in output pixels where it matters."""

    cos_s: np.ndarray  # cos(theta_i) * scale, (q,)
    sin_s: np.ndarray  # sin(theta_i) * scale, (q,)
    wave: np.ndarray  # S(theta_i) in reference px, (q,)
    orbits: int  # K
    ew: float  # eta + w, reference px per orbit
    coef: float  # j * eta * NOISE_UNIT


def make_orbits(
    q: int, k: int, eta: float, w: float, jitter: float, scale: float, wave_fn=None
) -> Orbits:
    theta = (2.0 * np.pi / q) * np.arange(q, dtype=np.float64)
    wave = wave_fn(theta) if wave_fn is not None else np.zeros(q, dtype=np.float64)
    return Orbits(
        cos_s=np.cos(theta) * scale,
        sin_s=np.sin(theta) * scale,
        wave=np.ascontiguousarray(wave, dtype=np.float64),
        orbits=int(k),
        ew=float(eta + w),
        coef=float(jitter * eta * NOISE_UNIT),
    )


def grey_levels(img_key: int, k: int, lo: int, hi: int) -> np.ndarray:
    """Grey level of each of the K orbits of one image."""
    skey = hr.stream_key(np.int64(img_key), hr.SALT_GREY)
    return hr.uniform_int(hr.u32(skey, np.arange(k, dtype=np.int64)), lo, hi).astype(np.int64)


def render_cpu(
    canvas: np.ndarray,
    orb: Orbits,
    r0x: float,
    r0y: float,
    cx: float,
    cy: float,
    img_key: int,
    greys: np.ndarray,
) -> None:
    """Draw one image into ``canvas`` (uint8, (S, S), pre-filled with the background).

    ``r0x``/``r0y`` are r0 times the oval rates (reference px); ``cx``/``cy`` the centre in output
    px; ``greys`` the K grey levels (values above 255 are clipped, as Pillow clips them).
    """
    from sweep.generators._radial_cpu import draw_radial  # Numba loads on first CPU render

    draw_radial(
        canvas,
        orb.cos_s,
        orb.sin_s,
        orb.wave,
        orb.orbits,
        float(r0x),
        float(r0y),
        orb.ew,
        orb.coef,
        float(cx),
        float(cy),
        noise_table(),
        int(hr.stream_key(int(img_key), hr.SALT_NOISE)),
        np.minimum(greys, 255).astype(np.int64),
    )


# ----------------------------------------------------------------------------- device path
def render_torch(
    orb: Orbits,
    *,
    r0x,
    r0y,
    cx,
    cy,
    img_keys,
    grey_lo: int,
    grey_hi: int,
    background: int,
    size: int,
    device,
    backend: str = "auto",
    max_vertices: int = 1 << 23,
):
    """Render a batch of images of ONE class on a torch device: ``uint8`` tensor ``(B, S, S)``.

    ``r0x``, ``r0y`` (reference px), ``cx``, ``cy`` (output px) and ``img_keys`` are per-image 1-D
    tensors (or arrays) of length B. Every step is per image, so the bytes do not depend on B or
    on the chunking.

    Later orbits win where orbits overlap, exactly as sequential drawing: each pixel keeps the
    maximum of ``orbit * 256 + grey`` over the segments that cover it (a deterministic atomic max).

    ``backend``: "torch" (eager tensor ops, any device; images are processed in chunks of at
    most ``max_vertices`` vertices), "triton" (the fused kernel of
    :mod:`~sweep.generators._radial_triton`), or "auto" (Triton on CUDA when it is importable).
    """
    import torch

    dev = torch.device(device)
    backend = resolve_backend(backend, dev)
    img_keys = torch.as_tensor(np.asarray(img_keys, dtype=np.int64), device=dev)
    per_image = [
        torch.as_tensor(np.asarray(v, dtype=np.float64), device=dev) for v in (r0x, r0y, cx, cy)
    ]
    b_total = img_keys.shape[0]
    out = torch.empty((b_total, size, size), dtype=torch.uint8, device=dev)
    if backend == "triton":
        chunk = max(1, (1 << 28) // (size * size))  # a 1 GiB int32 canvas at most
    else:
        chunk = max(1, max_vertices // max(orb.orbits * orb.cos_s.shape[0], 1))
    consts = _device_constants(orb, dev)
    for s in range(0, b_total, chunk):
        e = min(b_total, s + chunk)
        r0x_c, r0y_c, cx_c, cy_c = (v[s:e] for v in per_image)
        out[s:e] = _render_chunk(
            orb,
            consts,
            r0x_c,
            r0y_c,
            cx_c,
            cy_c,
            img_keys[s:e],
            grey_lo,
            grey_hi,
            background,
            size,
            backend,
        )
    return out


def resolve_backend(backend: str, dev) -> str:
    if backend not in ("auto", "torch", "triton"):
        raise ValueError(f"backend must be auto, torch or triton, got {backend!r}")
    if backend == "auto":
        if dev.type != "cuda":
            return "torch"
        try:
            import triton  # noqa: F401
        except ImportError:
            return "torch"
        return "triton"
    return backend


def _device_constants(orb: Orbits, dev):
    import torch

    k = orb.orbits
    kk = torch.arange(1, k + 1, dtype=torch.float64, device=dev)[:, None]
    wave = torch.as_tensor(orb.wave, device=dev)
    return {
        "table": torch.as_tensor(noise_table().astype(np.int32), device=dev),
        "table16": torch.tensor(noise_table(), device=dev),  # half the cache footprint
        "cos": torch.as_tensor(orb.cos_s, device=dev),
        "sin": torch.as_tensor(orb.sin_s, device=dev),
        "wave": wave,
        "common": kk * (orb.ew + wave)[None, :],  # (K, q), same float ops as the CPU kernel
        "counters": torch.arange(k * orb.cos_s.shape[0], dtype=torch.int64, device=dev),
        "orbit_ids": torch.arange(k, dtype=torch.int64, device=dev),
    }


def _render_chunk(orb, c, r0x, r0y, cx, cy, img_keys, grey_lo, grey_hi, background, size, backend):
    import torch

    # Grey levels and the draw priority of each orbit.
    gkey = hr.stream_key(img_keys, hr.SALT_GREY)
    greys = hr.uniform_int(hr.u32(gkey[:, None], c["orbit_ids"][None, :]), grey_lo, grey_hi)
    prio = (c["orbit_ids"][None, :] * 256 + greys.clamp(max=255)).to(torch.int32)  # (B, K)
    skey = hr.stream_key(img_keys, hr.SALT_NOISE)
    if backend == "triton":
        from sweep.generators._radial_triton import render_chunk_triton

        canvas = render_chunk_triton(orb, c, r0x, r0y, cx, cy, skey, prio, size)
    else:
        canvas = _canvas_eager(orb, c, r0x, r0y, cx, cy, skey, prio, size)
    drawn = canvas >= 0
    return torch.where(drawn, canvas & 255, torch.full_like(canvas, background)).to(torch.uint8)


def _canvas_eager(orb, c, r0x, r0y, cx, cy, skey, prio, size):
    """The priority canvas (B, S, S) int32 (-1 = empty) with eager tensor ops."""
    import torch

    b = skey.shape[0]
    k, q = orb.orbits, orb.cos_s.shape[0]
    # Noise: one 32-bit draw per vertex; low half indexes the x table, high half the y table.
    h = hr.u32(skey[:, None], c["counters"][None, :]).view(b, k, q)
    table = c["table"]
    cumx = torch.cumsum(table[h & 0xFFFF], dim=1).to(torch.float64)
    cumy = torch.cumsum(table[h >> 16], dim=1).to(torch.float64)
    del h
    common = c["common"][None]
    x = cx[:, None, None] + c["cos"] * ((r0x[:, None, None] + common) - orb.coef * cumx)
    y = cy[:, None, None] + c["sin"] * ((r0y[:, None, None] + common) - orb.coef * cumy)
    x = x.to(torch.int64).to(torch.int32)  # truncation toward zero, as the CPU kernel
    y = y.to(torch.int64).to(torch.int32)
    del cumx, cumy
    # Segments i -> i+1 (closed), culled when both ends lie beyond one canvas edge.
    x1 = torch.roll(x, -1, dims=2)
    y1 = torch.roll(y, -1, dims=2)
    hidden = ((x < 0) & (x1 < 0)) | ((y < 0) & (y1 < 0))
    hidden |= ((x >= size) & (x1 >= size)) | ((y >= size) & (y1 >= size))
    img_id = torch.arange(b, device=x.device, dtype=torch.int32)[:, None, None]
    # One row per visible segment: x0, y0, dx, dy, priority, image.
    seg = torch.stack(
        [x, y, x1 - x, y1 - y, prio[:, :, None].expand(b, k, q), img_id.expand(b, k, q)], dim=-1
    )[~hidden]
    del x, y, x1, y1, hidden
    n = torch.maximum(seg[:, 2].abs(), seg[:, 3].abs())
    counts = n + 1
    ends = torch.cumsum(counts, 0, dtype=torch.int64)
    total = int(ends[-1]) if ends.numel() else 0
    canvas = torch.full((b * size * size,), -1, dtype=torch.int32, device=n.device)
    if total:
        # Per pixel: its segment's row (one gather) and its step t along the segment.
        owner = torch.repeat_interleave(
            torch.arange(counts.shape[0], device=n.device), counts, output_size=total
        )
        info = torch.cat([seg, n[:, None], (ends - counts).to(torch.int32)[:, None]], 1)[owner]
        del owner
        t = torch.arange(total, device=n.device, dtype=torch.int32) - info[:, 7]
        ns = info[:, 6]
        two_n = (2 * ns).clamp(min=1)
        px = info[:, 0] + torch.div(2 * t * info[:, 2] + ns, two_n, rounding_mode="floor")
        py = info[:, 1] + torch.div(2 * t * info[:, 3] + ns, two_n, rounding_mode="floor")
        del t, ns, two_n
        inside = (px >= 0) & (px < size) & (py >= 0) & (py < size)
        flat = (info[:, 5].long() * size + py) * size + px
        canvas.scatter_reduce_(0, flat[inside], info[:, 4][inside], reduce="amax")
    return canvas.view(b, size, size)


# ----------------------------------------------------------------------------- base class
class RadialGenerator(Generator):
    """Common render paths of VisualAtom and RCDB; subclasses define the class/instance draws.

    Subclasses implement :meth:`orbits` (the class's rays, wave and noise constants) and
    :meth:`instance_geometry` (start radii and centre of one instance, in reference px).
    """

    grey_param = "grey"

    def class_key(self, seeds: Seeds, class_index: int) -> int:
        return seeds.key32("instances", class_index)

    def orbits(self, cls: Mapping[str, Any]) -> Orbits:
        raise NotImplementedError

    def instance_geometry(
        self, cls: Mapping[str, Any], img_key: int, instance: int
    ) -> tuple[float, float, float, float]:
        """(r0 * a_x, r0 * a_y, c_x, c_y) in reference px for one instance."""
        raise NotImplementedError

    def _geometry(self, cls, seeds, class_index, instances):
        keys = hr.instance_keys_np(self.class_key(seeds, class_index), instances)
        geo = np.array(
            [
                self.instance_geometry(cls, int(k), int(i))
                for k, i in zip(keys, instances, strict=True)
            ],
            dtype=np.float64,
        ).reshape(-1, 4)
        return keys, geo

    def render(
        self, cls: Mapping[str, Any], seeds: Seeds, class_index: int, instances: np.ndarray
    ) -> np.ndarray:
        instances = np.asarray(instances, dtype=np.int64)
        size = self.image_size
        orb = self.orbits(cls)
        keys, geo = self._geometry(cls, seeds, class_index, instances)
        g_lo, g_hi = self.params[self.grey_param]
        out = np.full((len(instances), size, size), self.background, dtype=np.uint8)
        for j in range(len(instances)):
            r0x, r0y, cx, cy = geo[j]
            greys = grey_levels(int(keys[j]), orb.orbits, g_lo, g_hi)
            render_cpu(out[j], orb, r0x, r0y, cx * self.scale, cy * self.scale, keys[j], greys)
        return out

    def render_torch(self, cls, seeds, class_index, instances, device):
        instances = np.asarray(instances, dtype=np.int64)
        keys, geo = self._geometry(cls, seeds, class_index, instances)
        g_lo, g_hi = self.params[self.grey_param]
        return render_torch(
            self.orbits(cls),
            r0x=geo[:, 0],
            r0y=geo[:, 1],
            cx=geo[:, 2] * self.scale,
            cy=geo[:, 3] * self.scale,
            img_keys=keys,
            grey_lo=g_lo,
            grey_hi=g_hi,
            background=self.background,
            size=self.image_size,
            device=device,
        )


def draw_int(rng: np.random.Generator, lo: int, hi: int) -> int:
    """U{lo..hi} by the inverse CDF of ONE uniform draw, whatever the range.

    NumPy's ``integers`` consumes no draw for a range of one value and a variable number under
    rejection, so the fields drawn after it shift when a range narrows; one ``random()`` per
    field keeps every later field on the same draw (common random numbers between the arms of a
    study), and two ranges map the same draw monotonically (the arms' values stay correlated).
    """
    lo, hi = int(lo), int(hi)
    u = float(rng.random())
    return lo + min(int(u * (hi - lo + 1)), hi - lo)


def draw_centre(rng: np.random.Generator, start_pos: int) -> float:
    """c = (512 + U{-start_pos..start_pos}) / 2 in reference px, from a NumPy generator."""
    return (REFERENCE_SIZE + draw_int(rng, -start_pos, start_pos)) / 2.0


def hash_centre(h: int, start_pos: int) -> float:
    """The same draw from one 32-bit hash value."""
    return (REFERENCE_SIZE + int(hr.uniform_int(h, -start_pos, start_pos))) / 2.0


def draw_int_or_float(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    """Integer-uniform when both ends are integers (as the official radii), else real-uniform."""
    lo, hi = bounds
    if float(lo).is_integer() and float(hi).is_integer():
        return float(draw_int(rng, int(lo), int(hi)))
    return float(rng.uniform(lo, hi))


def hash_int_or_float(h: int, bounds: tuple[float, float]) -> float:
    lo, hi = bounds
    if float(lo).is_integer() and float(hi).is_integer():
        return float(hr.uniform_int(h, int(lo), int(hi)))
    return float(hr.uniform_float(h, lo, hi))
