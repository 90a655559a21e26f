"""RCDB, the Radial Contour DataBase (Kataoka et al., CVPR 2022): VisualAtom's ancestor.

Definitions: ``shared/docs/generators.md`` section 2; official generator
``masora1030/CVPR2022-Pretrained-ViT-PyTorch`` (``rcdb_render/make_rcdb.py``).

The same orbit recursion as VisualAtom without the wave, with twice the jitter
(step = eta (1 - 2 p) + w), dark-grey-on-white drawing, and more variation per instance:

* per class: vertices V = floor(Exp(mean 100)) conditioned on 2 < V <= 200 (the official
  redraw loop; drawn here by inverse CDF of the truncated law, same distribution), orbits K,
  noise eta and step w;
* per instance: start radius r0 (integer in [0, 100]), oval rates in [1, 2] and a centre with
  start_pos 400 (within [56, 456] px); instance 0 keeps the class's own draws;
* per orbit: a grey level in {0..256}; 256 is clipped to 255 as Pillow clips it (white on white).

Imports: numpy; :mod:`sweep.generators._hashrng`, :mod:`sweep.generators._radial`,
:mod:`sweep.generators.base`, :mod:`sweep.seeding`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from sweep.generators import _hashrng as hr
from sweep.generators._radial import (
    Orbits,
    RadialGenerator,
    draw_centre,
    draw_int,
    draw_int_or_float,
    hash_centre,
    hash_int_or_float,
    make_orbits,
)
from sweep.generators.base import Param
from sweep.seeding import Seeds


class RCDB(RadialGenerator):
    name = "rcdb"
    version = "2"  # 2: one uniform draw per class field (CRN)
    summary = "radial contours with Perlin-noise jitter (CVPR 2022)"
    reference = (
        "Kataoka et al., Replacing Labeled Real-image Datasets with Auto-generated Contours, "
        "CVPR 2022; github.com/masora1030/CVPR2022-Pretrained-ViT-PyTorch"
    )
    background = 255
    published_shape = (1000, 1000, 512)
    min_image_size = 16
    schema = (
        Param(
            "vertices",
            "int_range",
            (3, 200),
            3,
            100_000,
            "V, vertices per orbit: floor(Exp(vertices_mean)) kept inside this range",
        ),
        Param(
            "vertices_mean",
            "float",
            100.0,
            1e-3,
            1e6,
            "mean of the exponential law of the vertex count",
        ),
        Param("orbits", "int_range", (1, 200), 1, 10_000, "K, orbits per image"),
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
            "w, radial step per orbit in px (official --line_width)",
        ),
        Param(
            "radius",
            "float_range",
            (0.0, 100.0),
            0.0,
            10_000.0,
            "r0, start radius in px at 512, drawn per instance (integers when both ends are)",
        ),
        Param(
            "oval",
            "float_range",
            (1.0, 2.0),
            0.0,
            100.0,
            "a_x and a_y, oval rates, drawn per instance",
        ),
        Param(
            "start_pos",
            "int",
            400,
            0,
            100_000,
            "centre spread in px at 512: c = (512 + U{-start_pos..start_pos}) / 2",
        ),
        Param(
            "grey",
            "int_range",
            (0, 256),
            0,
            256,
            "grey level of each orbit (256 draws 255, as Pillow clips it)",
        ),
    )

    def sample_class(self, seeds: Seeds, class_index: int, shared: Mapping[str, Any]) -> dict:
        p = self.params
        rng = seeds.rng("class", class_index)
        v = draw_truncated_exponential_int(rng, p["vertices_mean"], *p["vertices"])
        k = draw_int(rng, *p["orbits"])
        eta = float(rng.uniform(*p["noise"]))
        w = float(rng.uniform(*p["step"]))
        r0 = draw_int_or_float(rng, p["radius"])
        ax = float(rng.uniform(*p["oval"]))
        ay = float(rng.uniform(*p["oval"]))
        cy = draw_centre(rng, p["start_pos"])
        cx = draw_centre(rng, p["start_pos"])
        return {
            "vertices": v,
            "orbits": k,
            "noise": eta,
            "step": w,
            "radius": r0,
            "oval_x": ax,
            "oval_y": ay,
            "center_x": cx,
            "center_y": cy,
        }

    def orbits(self, cls: Mapping[str, Any]) -> Orbits:
        return make_orbits(
            cls["vertices"], cls["orbits"], cls["noise"], cls["step"], 2.0, self.scale
        )

    def instance_geometry(self, cls, img_key, instance):
        if instance == 0:  # the first instance keeps the class's own draws
            r0, ax, ay = cls["radius"], cls["oval_x"], cls["oval_y"]
            return r0 * ax, r0 * ay, cls["center_x"], cls["center_y"]
        p = self.params
        skey = hr.stream_key(img_key, hr.SALT_INSTANCE)
        r0 = hash_int_or_float(hr.u32(skey, 2), p["radius"])
        ax = float(hr.uniform_float(hr.u32(skey, 3), *p["oval"]))
        ay = float(hr.uniform_float(hr.u32(skey, 4), *p["oval"]))
        cy = hash_centre(hr.u32(skey, 0), p["start_pos"])
        cx = hash_centre(hr.u32(skey, 1), p["start_pos"])
        return r0 * ax, r0 * ay, cx, cy


def draw_truncated_exponential_int(rng: np.random.Generator, mean: float, lo: int, hi: int) -> int:
    """floor(E) for E ~ Exp(mean) conditioned on lo <= floor(E) <= hi (inverse CDF, one draw)."""
    a, b = math.exp(-lo / mean), math.exp(-(hi + 1) / mean)
    u = float(rng.uniform())
    e = -mean * math.log(a - u * (a - b))
    return int(min(max(math.floor(e), lo), hi))
