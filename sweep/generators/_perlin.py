"""The per-vertex noise of VisualAtom and RCDB, as a table for exact, fast sampling.

The official scripts call 1-octave, 1-D Perlin gradient noise (the ``noise`` package's
``pnoise1``, repeat 1024, base 0) at an independent uniform point in (0, 10000) for every vertex.
Because the points are independent, the noise is white along the contour, and only its
one-dimensional distribution matters. We evaluate the same function (in float32, as the package
does) on a dense stratified grid over (0, 10000), sort the values, and keep 65536 quantiles: a
sample is then one table lookup with a uniform 16-bit index, on the CPU or on a device, and its
distribution matches the official one to 1/65536 in probability.

Two details of the package are reproduced on purpose, because they shape the distribution:
the lattice hash is Ken Perlin's reference permutation, and a gradient whose hash has bit 3 set
is -1 (not the negated slope), which makes the distribution slightly asymmetric.

Table values are stored as int16 in units of 2**-15, so cumulative sums over orbits are exact
integer sums: identical whatever the order or batch in which they are computed.

Imports: numpy only.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

#: units of the stored table: value = table * NOISE_UNIT
NOISE_UNIT = 2.0**-15
TABLE_BITS = 16

# Ken Perlin's permutation of 0..255 from his "Improving Noise" reference implementation (2002).
# Kept as the published 20-a-line block (fmt: skip) so it can be compared with the source by eye.
_PERLIN_PERMUTATION = np.array(
    [151, 160, 137, 91, 90, 15, 131, 13, 201, 95, 96, 53, 194, 233, 7, 225, 140, 36, 103, 30,
     69, 142, 8, 99, 37, 240, 21, 10, 23, 190, 6, 148, 247, 120, 234, 75, 0, 26, 197, 62, 94,
     252, 219, 203, 117, 35, 11, 32, 57, 177, 33, 88, 237, 149, 56, 87, 174, 20, 125, 136, 171,
     168, 68, 175, 74, 165, 71, 134, 139, 48, 27, 166, 77, 146, 158, 231, 83, 111, 229, 122, 60,
     211, 133, 230, 220, 105, 92, 41, 55, 46, 245, 40, 244, 102, 143, 54, 65, 25, 63, 161, 1,
     216, 80, 73, 209, 76, 132, 187, 208, 89, 18, 169, 200, 196, 135, 130, 116, 188, 159, 86,
     164, 100, 109, 198, 173, 186, 3, 64, 52, 217, 226, 250, 124, 123, 5, 202, 38, 147, 118,
     126, 255, 82, 85, 212, 207, 206, 59, 227, 47, 16, 58, 17, 182, 189, 28, 42, 223, 183, 170,
     213, 119, 248, 152, 2, 44, 154, 163, 70, 221, 153, 101, 155, 167, 43, 172, 9, 129, 22, 39,
     253, 19, 98, 108, 110, 79, 113, 224, 232, 178, 185, 112, 104, 218, 246, 97, 228, 251, 34,
     242, 193, 238, 210, 144, 12, 191, 179, 162, 241, 81, 51, 145, 235, 249, 14, 239, 107, 49,
     192, 214, 31, 181, 199, 106, 157, 184, 84, 204, 176, 115, 121, 50, 45, 127, 4, 150, 254,
     138, 236, 205, 93, 222, 114, 67, 29, 24, 72, 243, 141, 128, 195, 78, 66, 215, 61, 156, 180],
    dtype=np.int64,
)  # fmt: skip


def perlin1(x: np.ndarray, repeat: int = 1024) -> np.ndarray:
    """1-octave 1-D Perlin noise at ``x`` (float32 arithmetic, as the ``noise`` package does)."""
    x = np.asarray(x, dtype=np.float32)
    cell = np.floor(x)
    i0 = cell.astype(np.int64) % repeat
    i1 = (i0 + 1) % repeat
    h0 = _PERLIN_PERMUTATION[i0 & 255]
    h1 = _PERLIN_PERMUTATION[i1 & 255]
    t = (x - cell).astype(np.float32)
    fade = t * t * t * (t * (t * np.float32(6) - np.float32(15)) + np.float32(10))

    def slope(h: np.ndarray) -> np.ndarray:
        # The package's quirk: bit 3 set gives a slope of -1, otherwise 1..8.
        return np.where(h & 8, np.float32(-1), (h & 7).astype(np.float32) + np.float32(1))

    a = slope(h0) * t
    b = slope(h1) * (t - np.float32(1))
    return ((a + fade * (b - a)) * np.float32(0.4)).astype(np.float32)


@lru_cache(maxsize=1)
def noise_table() -> np.ndarray:
    """65536 quantiles of pnoise1(U(0, 10000)) as int16 in units of :data:`NOISE_UNIT`."""
    n = 1 << 20
    x = ((np.arange(n, dtype=np.float64) + 0.5) * (10000.0 / n)).astype(np.float32)
    values = np.sort(perlin1(x).astype(np.float64))
    m = 1 << TABLE_BITS
    idx = ((np.arange(m, dtype=np.float64) + 0.5) * (n / m)).astype(np.int64)
    table = np.round(values[idx] / NOISE_UNIT).astype(np.int16)
    table.setflags(write=False)
    return table
