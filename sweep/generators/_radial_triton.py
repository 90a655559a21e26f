"""A fused Triton kernel for the radial generators' device path (CUDA only).

One program draws a block of BLOCK consecutive rays of one image through all K orbits: it keeps
the running noise sums of its rays (and of each ray's neighbour, to close the segments),
computes the vertices with the same float64 expressions as the CPU kernel, and walks each visible
segment with the same incremental integer DDA, writing ``orbit * 256 + grey`` with an atomic max
(later orbits win). Nothing but the canvas touches global memory, so it is far faster than the
eager torch path, which it matches pixel for pixel except where float contraction moves a
vertex across a pixel border. The eager path (:func:`sweep.generators._radial.render_torch`) stays
the reference and the fallback where Triton is unavailable.

Imports: Triton, torch (lazily). Nothing from the project.
"""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def _mix32(x):
    # The project's 32-bit mixer on uint32 (wrapping products = the int64 form's masks).
    x = x ^ (x >> 16)
    x = x * tl.full(x.shape, 0x21F0AAAD, tl.uint32)
    x = x ^ (x >> 15)
    x = x * tl.full(x.shape, 0x735A2D97, tl.uint32)
    x = x ^ (x >> 15)
    return x


@triton.jit
def _vertices(
    skey,
    idx,
    k,
    q,
    golden,
    lo16,
    table_ptr,
    cum_x,
    cum_y,
    kk,
    ew,
    wav,
    cos,
    sin,
    r0x,
    r0y,
    cx,
    cy,
    coef,
):
    # Orbit k of the rays idx: add this orbit's noise to the running sums, then the vertices.
    h = _mix32(skey + (idx + k * q).to(tl.uint32) * golden)
    cum_x += tl.load(table_ptr + (h & lo16).to(tl.int32)).to(tl.int32)
    cum_y += tl.load(table_ptr + (h >> 16).to(tl.int32)).to(tl.int32)
    c = kk * (ew + wav)
    x = (cx + cos * ((r0x + c) - coef * cum_x.to(tl.float64))).to(tl.int32)
    y = (cy + sin * ((r0y + c) - coef * cum_y.to(tl.float64))).to(tl.int32)
    return x, y, cum_x, cum_y


@triton.jit
def _radial_kernel(
    canvas_ptr,
    cos_ptr,
    sin_ptr,
    wave_ptr,
    table_ptr,
    skey_ptr,
    prio_ptr,
    r0x_ptr,
    r0y_ptr,
    cx_ptr,
    cy_ptr,
    q,
    k_orbits,
    ew,
    coef,
    size,
    BLOCK: tl.constexpr,
    SHIFT: tl.constexpr,
):
    b = tl.program_id(0)
    lane = tl.arange(0, BLOCK)
    if SHIFT:
        # Lanes hold BLOCK consecutive vertices (the last one is the next program's first) and
        # take each segment's far end from the next lane; vertex q is vertex 0 (closure).
        i_raw = tl.program_id(1) * (BLOCK - 1) + lane
        i = tl.where(i_raw < q, i_raw, 0)
        valid = (i_raw < q) & (lane < BLOCK - 1)
        nxt = tl.minimum(lane + 1, BLOCK - 1)
        j = i
    else:
        # Lanes hold BLOCK segments and recompute each far-end vertex.
        i = tl.program_id(1) * BLOCK + lane
        valid = i < q
        i = tl.where(valid, i, 0)
        j = tl.where(i + 1 < q, i + 1, 0)
        nxt = lane
    cos_i = tl.load(cos_ptr + i)
    sin_i = tl.load(sin_ptr + i)
    wav_i = tl.load(wave_ptr + i)
    cos_j = tl.load(cos_ptr + j)
    sin_j = tl.load(sin_ptr + j)
    wav_j = tl.load(wave_ptr + j)
    skey = tl.load(skey_ptr + b).to(tl.uint32)
    r0x = tl.load(r0x_ptr + b)
    r0y = tl.load(r0y_ptr + b)
    cx = tl.load(cx_ptr + b)
    cy = tl.load(cy_ptr + b)
    golden = tl.full([BLOCK], 0x9E3779B9, tl.uint32)
    lo16 = tl.full([BLOCK], 0xFFFF, tl.uint32)
    cxi = tl.zeros([BLOCK], tl.int32)
    cyi = tl.zeros([BLOCK], tl.int32)
    cxj = tl.zeros([BLOCK], tl.int32)
    cyj = tl.zeros([BLOCK], tl.int32)
    base = b.to(tl.int64) * size * size
    kk = tl.zeros([BLOCK], tl.float64)
    for k in range(0, k_orbits):
        kk += 1.0  # k + 1, exactly
        x0, y0, cxi, cyi = _vertices(
            skey,
            i,
            k,
            q,
            golden,
            lo16,
            table_ptr,
            cxi,
            cyi,
            kk,
            ew,
            wav_i,
            cos_i,
            sin_i,
            r0x,
            r0y,
            cx,
            cy,
            coef,
        )
        if SHIFT:
            x1 = tl.gather(x0, nxt, 0)
            y1 = tl.gather(y0, nxt, 0)
        else:
            x1, y1, cxj, cyj = _vertices(
                skey,
                j,
                k,
                q,
                golden,
                lo16,
                table_ptr,
                cxj,
                cyj,
                kk,
                ew,
                wav_j,
                cos_j,
                sin_j,
                r0x,
                r0y,
                cx,
                cy,
                coef,
            )
        hidden = ((x0 < 0) & (x1 < 0)) | ((y0 < 0) & (y1 < 0))
        hidden = hidden | ((x0 >= size) & (x1 >= size)) | ((y0 >= size) & (y1 >= size))
        active = valid & (hidden == 0)
        dx = x1 - x0
        dy = y1 - y0
        adx = tl.abs(dx)
        ady = tl.abs(dy)
        xmaj = adx >= ady
        n = tl.where(xmaj, adx, ady)
        two_n = 2 * n
        sa = tl.where(tl.where(xmaj, dx, dy) >= 0, 1, -1)
        step = 2 * tl.where(xmaj, dy, dx)
        a = tl.where(xmaj, x0, y0)
        bb = tl.where(xmaj, y0, x0)
        rb = n
        prio = tl.load(prio_ptr + b * k_orbits + k)
        nmax = tl.max(tl.where(active, n, -1), axis=0)
        for t in range(0, nmax + 1):
            px = tl.where(xmaj, a, bb)
            py = tl.where(xmaj, bb, a)
            m = active & (t <= n) & (px >= 0) & (px < size) & (py >= 0) & (py < size)
            off = base + py.to(tl.int64) * size + px
            tl.atomic_max(canvas_ptr + off, tl.full([BLOCK], 0, tl.int32) + prio, mask=m)
            a += sa
            rb += step
            carry = (rb >= two_n).to(tl.int32) - (rb < 0).to(tl.int32)
            rb -= carry * two_n
            bb += carry


#: launch configuration (block of rays, warps, neighbour by lane shift); tuned on an H100
CONFIG = {"block": 128, "num_warps": 4, "shift": True}


def render_chunk_triton(orb, consts, r0x, r0y, cx, cy, skeys, prio, size, **config):
    """Render B images of one class; returns the int32 priority canvas (B, S, S), -1 = empty."""
    import torch

    cfg = {**CONFIG, **config}
    block = cfg["block"]
    b = skeys.shape[0]
    q = orb.cos_s.shape[0]
    canvas = torch.full((b, size, size), -1, dtype=torch.int32, device=skeys.device)
    per_program = block - 1 if cfg["shift"] else block
    grid = (b, triton.cdiv(q, per_program))
    _radial_kernel[grid](
        canvas,
        consts["cos"],
        consts["sin"],
        consts["wave"],
        consts["table16"],
        skeys.contiguous(),
        prio.contiguous(),
        r0x.contiguous(),
        r0y.contiguous(),
        cx.contiguous(),
        cy.contiguous(),
        q,
        orb.orbits,
        orb.ew,
        orb.coef,
        size,
        BLOCK=block,
        SHIFT=cfg["shift"],
        num_warps=cfg["num_warps"],
    )
    return canvas
