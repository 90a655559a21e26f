"""ExFractalDB (Kataoka et al., CVPR 2022): 3-D IFS fractals seen by a perspective camera.

Definition: ``shared/docs/generators.md`` section 5; official generator
``masora1030/CVPR2022-Pretrained-ViT-PyTorch``, folder ``exfractaldb_render``
(``3dfractal_render/category_search.py``, ``IteratedFunctionSystem.py``, ``instance.py``,
``ifs_weight/weights_ins145.csv``, ``image_render/render.py``, run by ``ExFractalDB_render.sh``).
Nothing here is their code; ``docs/exfractaldb.md`` describes the algorithm, the published values
and the deviations, with measured faithfulness.

* **Class** (``category_search.py``): N maps, N uniform on ``n_maps``; each map's 3x3 matrix
  (a..i, row-major) and translation (j, k, l) uniform on ``coef``; p_j proportional to
  |det A_j|. The chaos game runs ``points - 1`` steps from the origin (the origin not kept);
  the cloud is normalised to [-1, 1] by ONE min and max over all coordinates (aspect kept), then
  centred (sums divided by ``points``, as official); the IFS is kept if the variance of the
  cloud along every axis exceeds ``variance`` (0.05 in ``ExFractalDB_render.sh``).
* **Instances** (``instance.py`` with ``weights_ins145.csv``): 145 weight variants (one of the
  12 parameters a..l multiplied, in every map, by a factor of the grid 0.4, 0.5, ..., 1.6; the
  identity once), each a fresh chaos game; map probabilities are those of the class.
* **Views** (``render.py``): 12 viewpoints on a circle around the y axis, azimuth
  2 pi k / 12 + 30 deg + U[-pi, pi] DEGREES (the official ``glm.radians(random.uniform(-pi,
  pi))``: a +-3.14 deg jitter), at distance 4 from the origin, looking at it, up = +y; a 45 deg
  vertical field of view, clip planes 1 and 100; every point a 1-px white point on black
  (224x224 published). Rows are stored bottom-up, as ``glReadPixels`` returns them (so the
  official PNGs, and ours, show +y downwards).

Instance ``i`` of a class is weight variant ``v = i % V``, view ``k = (v + (i // V) % views) %
views`` and round ``r = i // (V * views)``: the first ``V * views`` instances (1740 published)
are every (variant, view) pair once, and any prefix mixes variants and views. Each (variant,
round) has its own chaos game, shared by its views.

Imports: numpy, torch (lazily); :mod:`sweep.errors`, :mod:`sweep.generators._exfractal_ifs`,
:mod:`sweep.generators._hashrng`, :mod:`sweep.generators.base`, :mod:`sweep.seeding`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from sweep.errors import SweepError
from sweep.generators import _exfractal_ifs as ex
from sweep.generators import _hashrng as hr
from sweep.generators.base import Generator, Param
from sweep.seeding import Seeds

N_PARAMS = 12  # a..i (3x3 matrix, row-major) and j, k, l (translation) per map
MAX_VARIANTS = 100_000  # weight variants at most (a finer grid is a typo, not a design)


def weight_variants(lo: float, hi: float, step: float) -> list[tuple[int, float]]:
    """The weight variants as (parameter index 0..11 for a..l, factor), in the official order.

    Factors are the grid lo, lo + step, ..., <= hi. Row order of ``weights_ins145.csv``: every
    factor of a (the identity among them when 1 is on the grid), then b..l each with every
    factor but 1. Published [0.4, 1.6] step 0.1: 13 + 11 x 12 = 145 variants.
    """
    n = math.floor((hi - lo) / step + 1e-9)
    grid = [round(lo + t * step, 10) for t in range(n + 1)]
    return [(k, f) for k in range(N_PARAMS) for f in grid if not (k > 0 and f == 1.0)]


def exfractal_index(instances, n_variants: int, views: int):
    """Instance i -> (variant i % V, view (v + (i // V) % views) % views, round i // (V views))."""
    inst = np.asarray(instances, dtype=np.int64).reshape(-1)
    v = inst % n_variants
    k = (v + (inst // n_variants) % views) % views
    return v, k, inst // (n_variants * views)


class ExFractalDB(Generator):
    """ExFractalDB as the official ``ExFractalDB_render.sh`` makes it (see the module docstring).

    Deviations from the official code: all randomness is keyed (official: the global, unseeded
    numpy and Python RNGs); a cloud is diverged when any coordinate is not finite (official:
    NaN in y); a weight variant whose cloud diverges is drawn from the class's own maps with the
    same uniforms (official: writes no model, so that class has fewer images; 0.2-0.5% of
    variants); the weight row "i x 1.6" scales i by 1.6 (official csv row 109: a second 0.6, a
    typo); projection in float64 (official: float32 on the GPU); the search gives up after
    ``max_attempts`` candidates (official: loops forever). Additions (published values as
    defaults): ``azimuth`` and ``elevation`` ranges, ``fov``, ``distance``, ``clip`` and the
    weight grid are parameters.
    """

    name = "exfractaldb"
    version = "1"
    summary = "3-D IFS fractals, variance-accepted, 145 weight variants x 12 views (CVPR 2022)"
    reference = (
        "Kataoka et al., Replacing Labeled Real-image Datasets with Auto-generated Contours, "
        "CVPR 2022; github.com/masora1030/CVPR2022-Pretrained-ViT-PyTorch (exfractaldb_render)"
    )
    background = 0
    published_shape = (1000, 1740, 224)
    min_image_size = 8
    #: candidate IFS drawn per class before the search gives up (SweepError)
    max_attempts = 20_000
    schema = (
        Param(
            "n_maps",
            "int_range",
            (2, 7),
            1,
            64,
            "N, affine 3-D maps per IFS (uniform integer; category_search randint(2, 8))",
        ),
        Param(
            "coef",
            "float_range",
            (-1.0, 1.0),
            -10.0,
            10.0,
            "domain each of the 12 map parameters a..l is drawn from (uniform)",
        ),
        Param(
            "variance",
            "float",
            0.05,
            0.0,
            1.0,
            "keep an IFS if its normalised cloud's variance along every axis is > this "
            "(ExFractalDB_render.sh; category_search default 0.15)",
        ),
        Param(
            "points",
            "int",
            10_000,
            2,
            ex.MAX_POINTS,
            "official point_num: the chaos game keeps points - 1 points",
        ),
        Param(
            "weight_range",
            "float_range",
            (0.4, 1.6),
            0.0,
            10.0,
            "instances: factors of the weight grid, one of a..l scaled in every map",
        ),
        Param("weight_step", "float", 0.1, 0.001, 10.0, "step of the weight grid"),
        Param("views", "int", 12, 1, 3600, "viewpoints per model, evenly spaced in azimuth"),
        Param(
            "azimuth",
            "float_range",
            (30 - math.pi, 30 + math.pi),
            -360.0,
            360.0,
            "deg added to view k's 360 k / views: uniform per image (official 30 + U[-pi, pi] "
            "deg; [0, 360] gives random viewpoints)",
        ),
        Param(
            "elevation",
            "float_range",
            (0.0, 0.0),
            -89.0,
            89.0,
            "camera elevation in deg, uniform per image (official 0)",
        ),
        Param("fov", "float", 45.0, 1.0, 179.0, "vertical field of view in deg"),
        Param("distance", "float", 4.0, 0.01, 1000.0, "camera distance from the origin"),
        Param("clip", "float_range", (1.0, 100.0), 1e-4, 1e6, "[near, far] clip depths"),
    )

    def check_params(self) -> None:
        p = self.params
        lo, hi = p["weight_range"]
        n = len(weight_variants(lo, hi, p["weight_step"]))
        if n > MAX_VARIANTS:
            step = p["weight_step"]
            raise SweepError(
                key="weight_step",
                message=f"{step:g} over [{lo:g}, {hi:g}] makes {n} weight variants; "
                f"at most {MAX_VARIANTS}",
            )
        near, far = p["clip"]
        if not near < far:
            raise SweepError(key="clip", message=f"near {near:g} must be < far {far:g}")
        self.variants = weight_variants(lo, hi, p["weight_step"])

    # Classes ---------------------------------------------------------------------------
    def sample_class(self, seeds: Seeds, class_index: int, shared: Mapping[str, Any]) -> dict:
        """The official category search, inside the class's own stream.

        Draw N, then the 12 parameters of each map, then the chaos game's uniforms; accept the
        first IFS whose normalised cloud has variance > ``variance`` along every axis.
        """
        p = self.params
        rng = seeds.rng("class", class_index)
        n_lo, n_hi = p["n_maps"]
        c_lo, c_hi = p["coef"]
        for attempt in range(1, self.max_attempts + 1):
            n = int(rng.integers(n_lo, n_hi, endpoint=True))
            maps = rng.uniform(c_lo, c_hi, size=(n, N_PARAMS))
            u = rng.random(p["points"] - 1)
            probs = ex.map_probabilities(maps)
            if not np.all(np.isfinite(probs)):
                continue
            pts, ok = ex.cloud(maps, probs, u, p["points"])
            if not ok:
                continue
            var = np.var(pts, axis=1)
            if np.all(var > p["variance"]):
                return {
                    "n_maps": n,
                    "maps": [[float(v) for v in row] for row in maps],
                    "probs": [float(v) for v in probs],
                    "variance": [float(v) for v in var],
                    "attempts": attempt,
                }
        raise SweepError(
            f"exfractaldb: class {class_index}: no IFS reached variance {p['variance']:g} on "
            f"every axis in {self.max_attempts} candidates; lower variance or widen coef/n_maps"
        )

    # Instances -------------------------------------------------------------------------
    def variant_maps(self, cls: Mapping[str, Any], variant: int) -> np.ndarray:
        k, fac = self.variants[int(variant)]
        maps = np.array(cls["maps"], dtype=np.float64)
        maps[:, k] *= fac
        return maps

    def chaos_uniforms(self, seeds: Seeds, class_index: int, variant: int, rnd: int):
        """The uniforms of the chaos game of one (variant, round): ``points - 1`` of them."""
        return seeds.rng("chaos", class_index, int(variant), int(rnd)).random(
            self.params["points"] - 1
        )

    def cameras(self, seeds: Seeds, class_index: int, instances, views) -> np.ndarray:
        """(n, 12) eye, right, up, forward of each image's camera (angles from keyed hashes)."""
        p = self.params
        inst = np.asarray(instances, dtype=np.int64).reshape(-1)
        az_key = seeds.key32("azimuth", class_index)
        el_key = seeds.key32("elevation", class_index)
        az = hr.uniform_float(hr.u32(az_key, inst), *p["azimuth"])
        el = hr.uniform_float(hr.u32(el_key, inst), *p["elevation"])
        base = 2.0 * math.pi * np.asarray(views, dtype=np.float64) / p["views"]
        return ex.cameras(base + np.radians(az), np.radians(el), p["distance"])

    def _plan(self, seeds, class_index, instances):
        v, k, r = exfractal_index(instances, len(self.variants), self.params["views"])
        jobs = sorted(set(zip(v.tolist(), r.tolist(), strict=True)))
        job_of = {jr: j for j, jr in enumerate(jobs)}
        inst_job = [job_of[jr] for jr in zip(v.tolist(), r.tolist(), strict=True)]
        return jobs, inst_job, self.cameras(seeds, class_index, instances, k)

    def _camera_consts(self) -> tuple[float, float, float]:
        near, far = self.params["clip"]
        return ex.focal_length(self.params["fov"]), near, far

    def render(
        self, cls: Mapping[str, Any], seeds: Seeds, class_index: int, instances: np.ndarray
    ) -> np.ndarray:
        size = self.image_size
        points = self.params["points"]
        jobs, inst_job, cams = self._plan(seeds, class_index, instances)
        focal, near, far = self._camera_consts()
        clouds = np.zeros((len(jobs), 3, points - 1))
        valid = np.zeros(len(jobs), dtype=bool)
        for j, (vj, rj) in enumerate(jobs):
            u = self.chaos_uniforms(seeds, class_index, vj, rj)
            pts, ok = ex.cloud(self.variant_maps(cls, vj), cls["probs"], u, points)
            if not ok:  # the official code drops a diverged variant; draw the class itself
                pts, ok = ex.cloud(cls["maps"], cls["probs"], u, points)
            clouds[j], valid[j] = pts, ok
        return ex.draw_many(clouds, valid, inst_job, cams, size, focal, near, far)

    def render_torch(self, cls, seeds, class_index, instances, device):
        import torch

        size = self.image_size
        dev = torch.device(device)
        points = self.params["points"]
        jobs, inst_job, cams = self._plan(seeds, class_index, instances)
        if not jobs:
            return torch.empty((0, size, size), dtype=torch.uint8, device=dev)
        focal, near, far = self._camera_consts()
        base = np.asarray(cls["maps"], dtype=np.float64)
        m = points - 1
        parts = []
        for s, e in ex.chunks(len(jobs), ex.DEVICE_ELEMS // (12 * 4 * m)):
            idx = np.stack(
                [
                    ex.map_sequence(self.chaos_uniforms(seeds, class_index, vj, rj), cls["probs"])
                    for vj, rj in jobs[s:e]
                ]
            )
            maps = np.stack([self.variant_maps(cls, vj) for vj, _ in jobs[s:e]])
            clouds, ok = ex.torch_clouds(maps, idx, points, dev)
            bad = np.flatnonzero(~ok.cpu().numpy())
            if bad.size:  # diverged variants: the class's own maps with the same uniforms
                again, ok2 = ex.torch_clouds(np.stack([base] * bad.size), idx[bad], points, dev)
                bad_t = torch.as_tensor(bad, device=dev)
                nan = torch.full_like(again, math.nan)  # a NaN cloud draws nothing
                clouds[bad_t] = torch.where(ok2[:, None, None], again, nan)
            parts.append(clouds)
        clouds = torch.cat(parts)
        per = ex.DEVICE_ELEMS // (8 * m)
        return torch.cat(
            [
                ex.torch_draw(clouds, inst_job[s:e], cams[s:e], size, focal, near, far)
                for s, e in ex.chunks(len(inst_job), per)
            ]
        )
