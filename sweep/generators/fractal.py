"""Fractals from 2-D iterated function systems: FractalDB (ACCV 2020) and 1p-frac (ECCV 2024).

Definitions: ``shared/docs/generators.md`` sections 3 and 4; official generators
``hirokatsukataoka16/FractalDB-Pretrained-ResNet-PyTorch`` (``param_search/ifs_search.py``,
``fractal_renderer/``, run by ``exe.sh``) and ``SUPER-TADORY/1p-frac``
(``1p-frac_generater/src``). Nothing here is their code.

An IFS is N affine maps ``(x, y) -> (a x + b y + e, c x + d y + f)``, map j chosen with
probability ``p_j`` proportional to ``|a_j d_j - b_j c_j|``. Both generators draw it the same way,
as the official renderer does:

* **Chaos game.** The chain starts at the origin, which is kept as the first point (so the short
  transient from the origin to the attractor is drawn, as in the official code); ``points - 1``
  maps are applied. The map sequence is drawn from ``Seeds.rng("chaos", class)`` (uniforms
  compared with the cumulative probabilities, first ``j`` with ``u <= P_j``) and is SHARED by all
  images of a class, as the official renderer's fixed ``np.random.seed(100)`` shares it; only the
  patch masks differ between renders. A chain that diverges is cut 100 points before it
  diverges (the official NaN rule); "diverges" means a coordinate leaves +-1e150 or turns
  non-finite, where the official code waits for NaN (about 1e308): the image of a divergent chain
  looks the same (one blob and a trail of its last points), and the device scan below cannot
  overflow before that cut, so both paths cut at the same point.
* **Normalisation.** ``x -> floor((x - min) / (max - min) * (S - 2 pad) + pad)`` per axis over
  all points (not aspect-preserving, as official), clipped to the canvas.
* **Drawing** (``patch``): 0 sets each point's pixel to grey 127; 1 (published) pastes, at
  ``(x + 1, y + 1)``, a 3x3 binary mask drawn uniformly from the 511 non-empty masks afresh
  for EVERY point (the official per-image draw is commented out), in grey 127 where the bit is 1
  and black where it is 0, later points overwriting earlier ones (Pillow ``paste``); 2 pastes
  the full 3x3 square (1p-frac's ``mask_mode='fill'``). The patch is 3x3 px at every image size,
  as official. The canvas is then flipped top-bottom (the official "coordinate transformation").
  Background black.

Padding is given in px at 512 and scales with the image size; class searches and acceptance
tests are always made on the official 512x512 canvas, so class parameters do not depend on the
image size.

The chaos game, the pixel mapping and both renderers (CPU and device) are in
:mod:`sweep.generators._fractal_ifs`; this module holds the two generators and the samplers of
their classes.

Imports: numpy, torch (lazily); :mod:`sweep.errors`, :mod:`sweep.generators._fractal_ifs`,
:mod:`sweep.generators.base`, :mod:`sweep.seeding`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from sweep.errors import SweepError
from sweep.generators._fractal_ifs import (
    DEVICE_ELEMS,
    chaos_sequence,
    chaos_uniforms,
    chunks,
    draw_cpu,
    flip_batch,
    flip_image,
    map_probabilities,
    map_sequence,
    point_cloud,
    point_fill,
    torch_draw,
    torch_point_clouds,
)
from sweep.generators.base import REFERENCE_SIZE, Generator, Param
from sweep.seeding import Seeds

PATCH_MODES = "0: 1-px points, 1: random 3x3 binary mask per point (published), 2: full 3x3"


# ============================================================================ FractalDB


def weight_variants(step: float) -> list[tuple[int, float]]:
    """The 25 official weight variants as (parameter index 0..5 for a..f, factor).

    Row order of ``weights_<step>.csv``: a scaled by 1-2s, 1-s, 1 (identity), 1+s, 1+2s; then
    b..f each scaled by 1-2s, 1-s, 1+s, 1+2s. The factor multiplies that parameter of EVERY map;
    map probabilities are not recomputed (as official).
    """
    out: list[Any] = []
    for k in range(6):
        facs = [1 - 2 * step, 1 - step] + ([1.0] if k == 0 else []) + [1 + step, 1 + 2 * step]
        out.extend((k, round(fac, 12)) for fac in facs)
    return out


N_VARIANTS = 25
N_FLIPS = 4


def fractaldb_index(instances) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Instance i -> (weight variant i % 25, flip (i // 25) % 4, render i // 100).

    The published 1000 instances are i = 0..999 (25 variants x 4 flips x 10 renders); any
    prefix 0..n-1 covers the variants first, then the flips, then new patch-mask renders, and
    i >= 1000 continues with renders 10, 11, ... (the official ``--instance`` > 10).
    """
    inst = np.asarray(instances, dtype=np.int64).reshape(-1)
    return inst % N_VARIANTS, (inst // N_VARIANTS) % N_FLIPS, inst // (N_VARIANTS * N_FLIPS)


class FractalDB(Generator):
    """FractalDB-1k as the official ``exe.sh`` makes it (the repository's recommended run).

    Class: the category search of ``ifs_search.py`` (N uniform on ``n_maps``, a..f uniform on
    ``coef``, p_j proportional to |det|; kept if its 100k-point rendering on 512x512 with padding
    6 fills >= 0.2 of the pixels). Instances: the 25 weight variants x 4 flips x 10 patch renders
    of ``make_fractaldb.py --draw_type patch_gray --weight_csv weights_0.4.csv --iteration
    200000 --image_size 362``; see :func:`fractaldb_index` for the instance numbering.

    Deviations from the official code: each class has its own chaos-game sequence (official: one
    fixed-seed sequence for every class and variant); all randomness is keyed (official: global
    and, for the masks, unseeded); padding scales with the image size (4.2 px at the published
    362 px, where the official keeps 6 px); divergence is detected at 1e150 rather than at NaN;
    the search gives up after ``max_attempts`` candidates (official: loops forever).
    """

    name = "fractaldb"
    version = "1"
    summary = (
        "IFS fractals: category search by filling rate, 25 weight variants x flips (ACCV 2020)"
    )
    reference = (
        "Kataoka et al., Pre-training without Natural Images, ACCV 2020 / IJCV 2022; "
        "github.com/hirokatsukataoka16/FractalDB-Pretrained-ResNet-PyTorch"
    )
    background = 0
    published_shape = (1000, 1000, 362)
    min_image_size = 16
    #: candidate IFS drawn per class before the search gives up (SweepError)
    max_attempts = 20_000
    schema = (
        Param("n_maps", "int_range", (2, 7), 1, 64, "N, affine maps per IFS (uniform integer)"),
        Param(
            "coef",
            "float_range",
            (-1.0, 1.0),
            -10.0,
            10.0,
            "domain each of a, b, c, d, e, f is drawn from (uniform)",
        ),
        Param(
            "filling_rate",
            "float",
            0.2,
            0.0,
            1.0,
            "category search: keep an IFS if its point rendering fills >= this (ifs_search)",
        ),
        Param(
            "search_points",
            "int",
            100_000,
            1,
            10_000_000,
            "chaos-game points of the category search, on a 512x512 canvas (ifs_search)",
        ),
        Param(
            "points",
            "int",
            200_000,
            1,
            10_000_000,
            "chaos-game points per image (exe.sh --iteration; make_fractaldb default 100k)",
        ),
        Param("padding", "float", 6.0, 0.0, 200.0, "margin in px at 512 (search and render)"),
        Param(
            "weight_step",
            "float",
            0.4,
            0.0,
            0.5,
            "s: weight variants scale one parameter by 1-2s, 1-s, 1+s, 1+2s (exe.sh: 0.4)",
        ),
        Param("patch", "int", 1, 0, 2, PATCH_MODES),
    )

    # Classes ---------------------------------------------------------------------------
    def sample_class(self, seeds: Seeds, class_index: int, shared: Mapping[str, Any]) -> dict:
        """The official category search, inside the class's own stream.

        Draw N, then a..f of each map, then the chaos game's uniforms; accept the first IFS
        whose point rendering (512x512, official padding) fills >= ``filling_rate``.
        """
        p = self.params
        rng = seeds.rng("class", class_index)
        n_lo, n_hi = p["n_maps"]
        c_lo, c_hi = p["coef"]
        for attempt in range(1, self.max_attempts + 1):
            n = int(rng.integers(n_lo, n_hi, endpoint=True))
            maps = rng.uniform(c_lo, c_hi, size=(n, 6))
            det = np.abs(maps[:, 0] * maps[:, 3] - maps[:, 1] * maps[:, 2])
            u = rng.random(max(p["search_points"] - 1, 0))
            if not det.sum() > 0:
                continue
            probs = det / det.sum()
            fill = point_fill(maps, u, probs, REFERENCE_SIZE, p["padding"])
            if fill >= p["filling_rate"]:
                return {
                    "n_maps": n,
                    "maps": [[float(v) for v in row] for row in maps],
                    "probs": [float(v) for v in probs],
                    "filling_rate": float(fill),
                    "attempts": attempt,
                }
        raise SweepError(
            f"fractaldb: class {class_index}: no IFS reached filling_rate "
            f"{p['filling_rate']:g} in {self.max_attempts} candidates; lower filling_rate, "
            f"raise search_points or widen coef/n_maps"
        )

    # Instances -------------------------------------------------------------------------
    def variant_maps(self, cls: Mapping[str, Any], variant: int) -> np.ndarray:
        k, fac = weight_variants(self.params["weight_step"])[int(variant)]
        maps = np.array(cls["maps"], dtype=np.float64)
        maps[:, k] *= fac
        return maps

    def _plan(self, cls, seeds, class_index, instances):
        v, f, r = fractaldb_index(instances)
        jobs = sorted(set(zip(v.tolist(), r.tolist(), strict=True)))
        job_of = {jr: j for j, jr in enumerate(jobs)}
        inst_job = np.array(
            [job_of[jr] for jr in zip(v.tolist(), r.tolist(), strict=True)], dtype=np.int64
        )
        skeys = [seeds.key32("mask", class_index, vj, rj) for vj, rj in jobs]
        u = chaos_uniforms(seeds, class_index, self.params["points"])
        return jobs, inst_job, f, skeys, u

    def render(
        self, cls: Mapping[str, Any], seeds: Seeds, class_index: int, instances: np.ndarray
    ) -> np.ndarray:
        size = self.image_size
        jobs, inst_job, flips, skeys, u = self._plan(cls, seeds, class_index, instances)
        out = np.empty((len(inst_job), size, size), dtype=np.uint8)
        pad = self.params["padding"] * self.scale
        clouds: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        images = []
        for (vj, _), skey in zip(jobs, skeys, strict=True):
            if vj not in clouds:
                clouds[vj] = point_cloud(self.variant_maps(cls, vj), u, cls["probs"], size, pad)
            images.append(draw_cpu(*clouds[vj], size, self.params["patch"], skey))
        for i, (j, fl) in enumerate(zip(inst_job, flips, strict=True)):
            out[i] = flip_image(images[j], int(fl))
        return out

    def render_torch(self, cls, seeds, class_index, instances, device):
        import torch

        size = self.image_size
        dev = torch.device(device)
        jobs, inst_job, flips, skeys, u = self._plan(cls, seeds, class_index, instances)
        idx = map_sequence(u, cls["probs"])
        out = torch.empty((len(inst_job), size, size), dtype=torch.uint8, device=dev)
        if not jobs:
            return out
        variants = sorted({vj for vj, _ in jobs})
        maps = np.stack([self.variant_maps(cls, vj) for vj in variants])
        pad = self.params["padding"] * self.scale
        per = DEVICE_ELEMS // (6 * 4 * (len(idx) + 1))
        parts = [
            torch_point_clouds(maps[s:e], idx, size, pad, dev)
            for s, e in chunks(len(variants), per)
        ]
        px, py, nv = (torch.cat([pt[q] for pt in parts]) for q in range(3))
        row = {vj: i for i, vj in enumerate(variants)}
        which = [row[vj] for vj, _ in jobs]
        per = DEVICE_ELEMS // (4 * px.shape[1])
        images = torch.cat(
            [
                torch_draw(px, py, nv, which[s:e], skeys[s:e], size, self.params["patch"])
                for s, e in chunks(len(jobs), per)
            ]
        )
        job_t = torch.as_tensor(inst_job, device=dev)
        for fl in range(N_FLIPS):
            sel = np.flatnonzero(flips == fl)
            if sel.size:
                sel_t = torch.as_tensor(sel, device=dev)
                src = images[job_t[sel_t]]
                out[sel_t] = src if fl == 0 else flip_batch(src, fl)
        return out


# ============================================================================ 1p-frac


def sample_singular_values(n: int, a: float, rng: np.random.Generator) -> np.ndarray:
    """Anderson & Farrell's singular values: (n, 2), 0 <= s2 <= s1 <= 1, sum(s1 + 2 s2) = a.

    Same draws in the same order as the official ``sample_svs``.
    """
    s = np.empty((n, 2))
    p = a
    q = a - 3 * n + 3
    for i in range(n - 1):
        s1 = rng.uniform(max(0.0, q / 3), min(1.0, p))
        q -= s1
        p -= s1
        s2 = rng.uniform(max(0.0, q / 2), min(s1, p / 2))
        q = q - 2 * s2 + 3
        p -= 2 * s2
        s[i] = s1, s2
    s2 = rng.uniform(max(0.0, (p - 1) / 2), p / 3)
    s[-1] = p - 2 * s2, s2
    return s


def sample_system(n: int, sigma: tuple[float, float], rng: np.random.Generator):
    """A contractive IFS with a sigma-factor drawn in ``sigma`` (official ``sample_system``).

    Returns (maps (n, 6) as a, b, c, d, e, f; sigma-factor; singular values (n, 2)).
    """
    base = np.sign(rng.random((2 * n, 2, 1)) - 0.5) * np.eye(2)  # random axis reflections
    angle = rng.uniform(-np.pi, np.pi, 2 * n)
    cc, ss = np.cos(angle), np.sin(angle)
    rot = np.empty((2 * n, 2, 2))
    rot[:, 0, 0], rot[:, 0, 1], rot[:, 1, 0], rot[:, 1, 1] = cc, -ss, ss, cc
    uv = rot @ base
    u, v = uv[:n], uv[n:]
    a = float(rng.uniform(*sigma))
    s = sample_singular_values(n, a, rng)
    lin = (u * s[:, None, :]) @ v
    t = rng.uniform(-1.0, 1.0, (n, 2))
    maps = np.stack(
        [lin[:, 0, 0], lin[:, 0, 1], lin[:, 1, 0], lin[:, 1, 1], t[:, 0], t[:, 1]], axis=1
    )
    return maps, a, s


def sigma_factor(maps) -> float:
    """sum_j (s_j1 + 2 s_j2) of the maps' linear parts."""
    lin = np.asarray(maps, dtype=np.float64)[:, :4].reshape(-1, 2, 2)
    s = np.linalg.svd(lin, compute_uv=False)
    return float((s[:, 0] + 2 * s[:, 1]).sum())


class OnePFrac(Generator):
    """1p-frac as the official ``render_from_oneparam_mp.py`` makes it (sigma 3.5, Delta 0.1).

    Dataset: ONE base IFS of ``n_maps`` contractive maps with sigma-factor uniform in ``sigma``
    (Anderson & Farrell's sampler, drawn from ``Seeds.rng("base")`` in :meth:`prepare`). Class:
    every parameter of the base multiplied by its own factor U[1 - Delta, 1 + Delta], redrawn
    until instance 0's patch rendering on 512x512 has more than ``min_fill`` non-zero pixels;
    map probabilities stay those of the base. One image per class is published; further
    instances of a class differ only in their patch masks.

    Deviations from the official code: each class has its own chaos-game sequence (official: one
    fixed-seed sequence for all classes); all randomness is keyed; padding scales with the image
    size; divergence is detected at 1e150 rather than at NaN; the perturbation loop gives up
    after ``max_attempts`` draws (official: loops forever). The repository's ``generate.sh``
    sets sigma 4.0, but its argparse default and every published dataset use 3.5.
    """

    name = "1p-frac"
    version = "1"
    summary = "one fractal: classes are +-Delta perturbations of a single IFS (ECCV 2024)"
    reference = (
        "Nakamura, Tadokoro et al., Scaling Backwards: Minimal Synthetic Pre-training?, "
        "ECCV 2024; github.com/SUPER-TADORY/1p-frac"
    )
    background = 0
    published_shape = (1000, 1, 512)
    min_image_size = 16
    #: perturbations drawn per class before giving up (SweepError)
    max_attempts = 1000
    schema = (
        Param(
            "sigma",
            "float_range",
            (3.4, 3.6),
            0.0,
            24.0,
            "sigma-factor sum_j (s_j1 + 2 s_j2) of the base IFS, uniform in [min, max] "
            "(official: sigma +- 0.1, sigma 3.5 for the published sets)",
        ),
        Param(
            "delta",
            "float",
            0.1,
            0.0,
            1.0,
            "Delta: each of the 6N parameters is multiplied by U[1 - Delta, 1 + Delta]",
        ),
        Param("n_maps", "int", 2, 1, 8, "N, affine maps of the base IFS"),
        Param("points", "int", 100_000, 1, 10_000_000, "chaos-game points per image"),
        Param(
            "min_fill",
            "float",
            0.05,
            0.0,
            1.0,
            "a perturbation is kept if > this fraction of its 512x512 image is non-zero",
        ),
        Param("padding", "float", 6.0, 0.0, 200.0, "margin in px at 512"),
        Param("patch", "int", 1, 0, 2, PATCH_MODES),
    )

    def check_params(self) -> None:
        lo, hi = self.params["sigma"]
        n = self.params["n_maps"]
        if hi > 3 * n or lo <= 0:
            raise SweepError(
                key="sigma",
                message=f"[{lo:g}, {hi:g}] must lie in (0, {3 * n}] for n_maps = {n} "
                "(each map adds s1 + 2 s2 <= 3)",
            )

    # Dataset -----------------------------------------------------------------------------
    def prepare(self, seeds: Seeds) -> dict[str, Any]:
        """The single base IFS, from ``seeds.rng("base")``."""
        maps, a, s = sample_system(self.params["n_maps"], self.params["sigma"], seeds.rng("base"))
        return {
            "base_maps": [[float(v) for v in row] for row in maps],
            "probs": [float(v) for v in map_probabilities(maps)],
            "sigma_factor": a,
            "singular_values": [[float(v) for v in row] for row in s],
        }

    # Classes ---------------------------------------------------------------------------
    def sample_class(self, seeds: Seeds, class_index: int, shared: Mapping[str, Any]) -> dict:
        """Perturb the base until instance 0, rendered at 512x512, fills > ``min_fill``.

        Map probabilities stay those of the base IFS (as official).
        """
        p = self.params
        if "base_maps" not in shared:
            shared = self.prepare(seeds)
        base = np.asarray(shared["base_maps"], dtype=np.float64)
        probs = shared["probs"]
        rng = seeds.rng("class", class_index)
        delta = p["delta"]
        u = chaos_uniforms(seeds, class_index, p["points"])
        skey = self.mask_key(seeds, class_index, 0)
        tries = self.max_attempts if delta > 0 else 1  # Delta = 0: every draw is the base
        for attempt in range(1, tries + 1):
            factors = rng.uniform(1.0 - delta, 1.0 + delta, size=base.shape)
            maps = base * factors
            px, py = point_cloud(maps, u, probs, REFERENCE_SIZE, p["padding"])
            img = draw_cpu(px, py, REFERENCE_SIZE, p["patch"], skey)
            fill = float(np.count_nonzero(img)) / img.size
            if fill > p["min_fill"]:
                return {
                    "maps": [[float(v) for v in row] for row in maps],
                    "probs": [float(v) for v in probs],
                    "factors": [[float(v) for v in row] for row in factors],
                    "fill": fill,
                    "attempts": attempt,
                }
        raise SweepError(
            f"1p-frac: class {class_index}: no perturbation of the base IFS filled more than "
            f"min_fill {p['min_fill']:g} in {tries} draws; lower min_fill, raise points or "
            "change the seed (the base IFS is drawn from it)"
        )

    # Instances -------------------------------------------------------------------------
    @staticmethod
    def mask_key(seeds: Seeds, class_index: int, instance: int) -> int:
        return seeds.key32("mask", class_index, int(instance))

    def render(
        self, cls: Mapping[str, Any], seeds: Seeds, class_index: int, instances: np.ndarray
    ) -> np.ndarray:
        size = self.image_size
        inst = np.asarray(instances, dtype=np.int64).reshape(-1)
        out = np.empty((len(inst), size, size), dtype=np.uint8)
        if not len(inst):
            return out
        u = chaos_uniforms(seeds, class_index, self.params["points"])
        pad = self.params["padding"] * self.scale
        px, py = point_cloud(cls["maps"], u, cls["probs"], size, pad)
        for j, i in enumerate(inst.tolist()):
            out[j] = draw_cpu(
                px, py, size, self.params["patch"], self.mask_key(seeds, class_index, i)
            )
        return out

    def render_torch(self, cls, seeds, class_index, instances, device):
        import torch

        size = self.image_size
        dev = torch.device(device)
        inst = np.asarray(instances, dtype=np.int64).reshape(-1)
        if not len(inst):
            return torch.empty((0, size, size), dtype=torch.uint8, device=dev)
        idx = chaos_sequence(seeds, class_index, cls["probs"], self.params["points"])
        maps = np.asarray(cls["maps"], dtype=np.float64)[None]
        px, py, nv = torch_point_clouds(maps, idx, size, self.params["padding"] * self.scale, dev)
        skeys = [self.mask_key(seeds, class_index, i) for i in inst.tolist()]
        per = DEVICE_ELEMS // (4 * px.shape[1])
        return torch.cat(
            [
                torch_draw(px, py, nv, [0] * (e - s), skeys[s:e], size, self.params["patch"])
                for s, e in chunks(len(inst), per)
            ]
        )
