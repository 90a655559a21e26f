"""A counter-based hash RNG shared by the CPU (NumPy/Numba) and device (torch) renderers.

Per-instance randomness of the radial generators (centre, grey levels, per-vertex noise) is
``u32(key, counter)``: a 32-bit integer hash of an image key and a counter. It needs no state,
so any image, orbit or vertex can be drawn independently, in any batch, on any device, and
the CPU and device renderers consume exactly the same random numbers.

The mixer is the "improved lowbias32" integer hash (multipliers 0x21f0aaad and 0x735a2d97).
All arithmetic is on signed 64-bit integers holding 32-bit values: the multipliers are below
2**31 and counters below 2**31, so no product overflows in NumPy, Numba or torch.
Image keys are derived from a
per-class key (from :class:`~sweep.seeding.Seeds`) and the instance index; within a class
distinct instances get distinct keys (the mixer is a bijection).

Imports: numpy only (torch tensors are taken as arguments, never imported).
"""

from __future__ import annotations

import numpy as np

MASK32 = 0xFFFFFFFF
GOLDEN = 0x9E3779B9  # counter stride (Weyl sequence)
M1 = 0x21F0AAAD
M2 = 0x735A2D97

# Stream salts: one per kind of draw.
SALT_NOISE = 0x6A09E667
SALT_GREY = 0xBB67AE85
SALT_INSTANCE = 0x3C6EF372


def mix32(x):
    """The 32-bit mixer; works on Python ints, NumPy int64 arrays, Numba and torch int64."""
    x = x & MASK32
    x = x ^ (x >> 16)
    x = (x * M1) & MASK32
    x = x ^ (x >> 15)
    x = (x * M2) & MASK32
    x = x ^ (x >> 15)
    return x


def image_key(class_key: int, instance):
    """Key of one image from its class key and instance index (scalar or int64 array)."""
    return mix32(class_key + ((instance * GOLDEN) & MASK32))


def stream_key(img_key, salt: int):
    return mix32(img_key ^ salt)


def u32(skey, counter):
    """The ``counter``-th 32-bit draw of a stream key."""
    return mix32(skey + ((counter * GOLDEN) & MASK32))


def uniform_int(h, lo: int, hi: int):
    """Map a 32-bit draw to an integer in [lo, hi] (multiply-shift)."""
    return lo + ((h * (hi - lo + 1)) >> 32)


def uniform_float(h, lo: float, hi: float):
    """Map a 32-bit draw to a float in [lo, hi)."""
    return lo + (hi - lo) * (h * (1.0 / 4294967296.0))


def instance_keys_np(class_key: int, instances: np.ndarray) -> np.ndarray:
    return image_key(class_key, np.asarray(instances, dtype=np.int64))
