"""VisualAtom (Takashima et al., CVPR 2023), faithful to the published VisualAtom-1k run.

Definitions: ``shared/docs/generators.md`` section 1; official generator
``masora1030/CVPR2023-FDSL-on-VisualAtom`` (``visual_atomic_renderer/render_VisualAtom.py``, run by
``make_VisualAtom.sh``). Defaults are the values of the published run, not the script's own
argparse defaults (which differ: perlin_min 2, line_width 0.01, radius_min 0).

A class draws, in this order: vertices q, orbits K, noise level eta, radial step w, start
radius r0, frequencies n1 and n2 (n2 != n1 unless n1 = 0, so (0, 0) can occur), oval rates
a_x and a_y and a centre. Its instances differ only in the centre (instance 0 keeps the class
draw), one grey level per orbit, and fresh noise at every vertex of every orbit.
Every range is a ``[min, max]`` pair drawn uniformly (integers inclusive).

Imports: numpy; :mod:`sweep.errors`, :mod:`sweep.generators._hashrng`,
:mod:`sweep.generators._radial`, :mod:`sweep.generators.base`, :mod:`sweep.seeding`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from sweep.errors import SweepError
from sweep.generators import _hashrng as hr
from sweep.generators._radial import (
    Orbits,
    RadialGenerator,
    draw_centre,
    draw_int,
    draw_int_or_float,
    hash_centre,
    make_orbits,
)
from sweep.generators.base import Param
from sweep.seeding import Seeds


class VisualAtom(RadialGenerator):
    name = "visualatom"
    version = "2"  # 2: one uniform draw per class field (common random numbers)
    summary = "contours from sums of two sinusoidal waves (CVPR 2023)"
    reference = (
        "Takashima et al., Visual Atoms: Pre-training Vision Transformers with Sinusoidal Waves, "
        "CVPR 2023; github.com/masora1030/CVPR2023-FDSL-on-VisualAtom"
    )
    background = 0
    published_shape = (1000, 1000, 512)
    min_image_size = 16
    schema = (
        Param(
            "vertices",
            "int_range",
            (200, 1000),
            3,
            100_000,
            "q, vertices per orbit (--vertex_num_min/max)",
        ),
        Param(
            "orbits", "int_range", (1, 200), 1, 10_000, "K, orbits per image (--line_num_min/max)"
        ),
        Param(
            "noise",
            "float_range",
            (0.0, 4.0),
            0.0,
            1000.0,
            "eta, Perlin noise level (official: [perlin_min, perlin_min + 4])",
        ),
        Param(
            "step",
            "float_range",
            (0.0, 0.1),
            0.0,
            1000.0,
            "w, radial step per orbit in px (official --line_width; not a stroke width)",
        ),
        Param(
            "radius",
            "float_range",
            (10.0, 60.0),
            0.0,
            10_000.0,
            "r0, start radius in px at 512; integer draws when both ends are integers "
            "(official: [radius_min, radius_min + 50])",
        ),
        Param("freq1", "int_range", (0, 20), 0, 10_000, "n1, first wave frequency (--nami_1)"),
        Param(
            "freq2",
            "int_range",
            (0, 20),
            0,
            10_000,
            "n2, second wave frequency, redrawn until != n1 unless n1 = 0 (--nami_2)",
        ),
        Param(
            "oval",
            "float_range",
            (1.0, 2.0),
            0.0,
            100.0,
            "a_x and a_y, oval rates, each drawn independently (official: [1, oval_rate])",
        ),
        Param(
            "amplitude",
            "float",
            0.5,
            0.0,
            1000.0,
            "lambda, amplitude of each wave in px at 512 (fixed at 1/2 in the paper)",
        ),
        Param(
            "start_pos",
            "int",
            512,
            0,
            100_000,
            "centre spread in px at 512: c = (512 + U{-start_pos..start_pos}) / 2",
        ),
        Param(
            "grey",
            "int_range",
            (0, 255),
            0,
            255,
            "grey level of each orbit, drawn per instance (0 draws black over earlier orbits)",
        ),
    )

    def check_params(self) -> None:
        n1_lo, n1_hi = self.params["freq1"]
        n2_lo, n2_hi = self.params["freq2"]
        if n2_lo == n2_hi and n2_lo != 0 and n1_lo <= n2_lo <= n1_hi:
            raise SweepError(
                key="freq2",
                message=f"[{n2_lo}, {n2_hi}] leaves no value != n1 when n1 = {n2_lo}; "
                "widen freq2 or exclude that value from freq1",
            )

    def sample_class(self, seeds: Seeds, class_index: int, shared: Mapping[str, Any]) -> dict:
        p = self.params
        rng = seeds.rng("class", class_index)
        q = draw_int(rng, *p["vertices"])
        k = draw_int(rng, *p["orbits"])
        eta = float(rng.uniform(*p["noise"]))
        w = float(rng.uniform(*p["step"]))
        r0 = draw_int_or_float(rng, p["radius"])
        n1 = draw_int(rng, *p["freq1"])
        n2 = draw_n2(rng, n1, p["freq2"])
        ax = float(rng.uniform(*p["oval"]))
        ay = float(rng.uniform(*p["oval"]))
        cy = draw_centre(rng, p["start_pos"])
        cx = draw_centre(rng, p["start_pos"])
        return {
            "vertices": q,
            "orbits": k,
            "noise": eta,
            "step": w,
            "radius": r0,
            "freq1": n1,
            "freq2": n2,
            "oval_x": ax,
            "oval_y": ay,
            "center_x": cx,
            "center_y": cy,
        }

    def wave(self, cls: Mapping[str, Any], theta: np.ndarray) -> np.ndarray:
        """S(theta) = lambda sin(n1 theta) + lambda sin(n2 theta), reference px."""
        lam = self.params["amplitude"]
        return lam * np.sin(cls["freq1"] * theta) + lam * np.sin(cls["freq2"] * theta)

    def orbits(self, cls: Mapping[str, Any]) -> Orbits:
        return make_orbits(
            cls["vertices"],
            cls["orbits"],
            cls["noise"],
            cls["step"],
            1.0,
            self.scale,
            lambda theta: self.wave(cls, theta),
        )

    def instance_geometry(self, cls, img_key, instance):
        r0x, r0y = cls["radius"] * cls["oval_x"], cls["radius"] * cls["oval_y"]
        if instance == 0:  # the first instance keeps the class's centre
            return r0x, r0y, cls["center_x"], cls["center_y"]
        skey = hr.stream_key(img_key, hr.SALT_INSTANCE)
        sp = self.params["start_pos"]
        cy = hash_centre(hr.u32(skey, 0), sp)
        cx = hash_centre(hr.u32(skey, 1), sp)
        return r0x, r0y, cx, cy


def draw_n2(rng: np.random.Generator, n1: int, bounds: tuple[int, int]) -> int:
    """n2 uniform on its range, excluding n1 when n1 != 0.

    Equal in distribution to the official loop (redraw until n2 != n1 or n1 == 0), with
    exactly one draw whatever the range (:func:`draw_int`) and no risk of looping forever.
    """
    lo, hi = bounds
    if n1 == 0 or not lo <= n1 <= hi:
        return draw_int(rng, lo, hi)
    v = draw_int(rng, lo, hi - 1)  # hi - lo values: skip n1
    return v + 1 if v >= n1 else v
