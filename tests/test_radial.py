"""VisualAtom and RCDB: published distributions, geometry, determinism, device agreement."""

from __future__ import annotations

import hashlib
import math

import numpy as np
import pytest

from sweep.errors import SweepError
from sweep.generators import _hashrng as hr
from sweep.generators import get_generator, list_generators
from sweep.generators._perlin import NOISE_UNIT, noise_table, perlin1
from sweep.generators.rcdb import draw_truncated_exponential_int
from sweep.seeding import Seeds

RADIAL = ["visualatom", "rcdb"]

try:
    import torch

    HAS_CUDA = torch.cuda.is_available()
except ImportError:  # pragma: no cover
    HAS_CUDA = False


# ----------------------------------------------------------------------------- noise
def test_noise_table_matches_official_pnoise1_distribution():
    # Percentiles of pnoise1 at uniform points in (0, 1e4), measured on the official package
    # (shared/docs/generators.md): -0.83/-0.58/-0.15/0.00/0.14/0.62/0.85, std about 0.33.
    values = noise_table().astype(np.float64) * NOISE_UNIT
    pct = np.percentile(values, [1, 5, 25, 50, 75, 95, 99])
    np.testing.assert_allclose(pct, [-0.83, -0.58, -0.15, 0.0, 0.14, 0.62, 0.85], atol=0.011)
    assert abs(values.std() - 0.33) < 0.005
    assert 0.94 < np.abs(values).max() < 0.96


def test_noise_table_is_the_distribution_of_perlin_at_random_points():
    rng = np.random.default_rng(1)
    direct = perlin1(rng.uniform(0, 10000, 200_000))
    table = noise_table().astype(np.float64) * NOISE_UNIT
    q = np.linspace(0.01, 0.99, 25)
    np.testing.assert_allclose(np.quantile(direct, q), np.quantile(table, q), atol=0.01)


def test_hashed_table_draws_have_the_noise_distribution():
    h = hr.u32(hr.stream_key(np.int64(1234), hr.SALT_NOISE), np.arange(200_000, dtype=np.int64))
    table = noise_table().astype(np.float64) * NOISE_UNIT
    for half in (h & 0xFFFF, h >> 16):
        vals = table[half]
        assert abs(vals.mean()) < 0.003
        assert abs(vals.std() - table.std()) < 0.003
    # The two halves (x and y noise) are uncorrelated.
    assert abs(np.corrcoef(table[h & 0xFFFF], table[h >> 16])[0, 1]) < 0.01


# ----------------------------------------------------------------------------- classes
def test_registry_lists_the_published_generators():
    assert {"visualatom", "rcdb", "fractaldb", "1p-frac"} <= set(list_generators())


def test_unknown_generator_suggests_the_closest_name():
    with pytest.raises(SweepError, match="did you mean 'visualatom'"):
        get_generator("visualatm")


@pytest.mark.parametrize("name", RADIAL)
def test_sampled_class_params_stay_in_their_ranges(name):
    overrides = {
        "visualatom": {"vertices": [50, 60], "orbits": [3, 7], "noise": [1, 2], "freq1": [2, 5]},
        "rcdb": {"vertices": [10, 40], "orbits": [3, 7], "noise": [1, 2], "radius": [5, 9]},
    }[name]
    gen = get_generator(name, overrides, image_size=64)
    seeds = Seeds(3)
    for c in range(300):
        cls = gen.sample_class(seeds, c, {})
        assert overrides["vertices"][0] <= cls["vertices"] <= overrides["vertices"][1]
        assert 3 <= cls["orbits"] <= 7
        assert 1 <= cls["noise"] <= 2
        assert gen.params["step"][0] <= cls["step"] <= gen.params["step"][1]
        assert gen.params["oval"][0] <= cls["oval_x"] <= gen.params["oval"][1]
        assert gen.params["oval"][0] <= cls["oval_y"] <= gen.params["oval"][1]
        sp = gen.params["start_pos"]
        for c_ in (cls["center_x"], cls["center_y"]):
            assert (512 - sp) / 2 <= c_ <= (512 + sp) / 2
            assert (2 * c_).is_integer()  # (512 + integer) / 2
        assert float(cls["radius"]).is_integer()  # integer draws for integer bounds
        if name == "visualatom":
            assert 2 <= cls["freq1"] <= 5 and 0 <= cls["freq2"] <= 20
        else:
            assert 5 <= cls["radius"] <= 9


def test_visualatom_published_defaults():
    p = get_generator("visualatom").params
    assert p["vertices"] == (200, 1000) and p["orbits"] == (1, 200)
    assert p["noise"] == (0.0, 4.0) and p["step"] == (0.0, 0.1) and p["radius"] == (10, 60)
    assert p["freq1"] == (0, 20) and p["freq2"] == (0, 20) and p["oval"] == (1.0, 2.0)
    assert p["amplitude"] == 0.5 and p["start_pos"] == 512 and p["grey"] == (0, 255)


def test_n2_differs_from_n1_unless_n1_is_zero_and_zero_zero_is_reachable():
    gen = get_generator("visualatom", {"freq1": [0, 3], "freq2": [0, 3]}, image_size=32)
    seeds = Seeds(0)
    pairs = [
        (c["freq1"], c["freq2"]) for c in (gen.sample_class(seeds, i, {}) for i in range(4000))
    ]
    assert all(n2 != n1 for n1, n2 in pairs if n1 != 0)
    assert (0, 0) in pairs
    # Given n1 = 2, n2 is uniform on {0, 1, 3} (the official redraw loop's law).
    n2_given_2 = np.array([n2 for n1, n2 in pairs if n1 == 2])
    freq = np.array([(n2_given_2 == v).mean() for v in (0, 1, 3)])
    np.testing.assert_allclose(freq, 1 / 3, atol=0.06)
    # Given n1 = 0, n2 is uniform on all four values, 0 included.
    n2_given_0 = np.array([n2 for n1, n2 in pairs if n1 == 0])
    np.testing.assert_allclose([(n2_given_0 == v).mean() for v in range(4)], 0.25, atol=0.06)


def test_frequency_band_that_forces_n2_equal_n1_is_rejected():
    with pytest.raises(SweepError, match="freq2"):
        get_generator("visualatom", {"freq1": [3, 3], "freq2": [3, 3]})
    get_generator("visualatom", {"freq1": [0, 0], "freq2": [0, 0]})  # (0, 0) is fine


def test_rcdb_vertices_follow_the_truncated_exponential():
    rng = np.random.default_rng(0)
    v = np.array([draw_truncated_exponential_int(rng, 100.0, 3, 200) for _ in range(20000)])
    assert v.min() >= 3 and v.max() <= 200
    # Law of floor(E), E ~ Exp(100), conditioned on 3 <= floor(E) <= 200.
    k = np.arange(3, 201)
    pk = np.exp(-k / 100) - np.exp(-(k + 1) / 100)
    pk /= pk.sum()
    assert abs(v.mean() - (k * pk).sum()) < 1.5
    assert abs((v <= 50).mean() - pk[k <= 50].sum()) < 0.015


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"vertices": [900, 200]}, "vertices: min 900 > max 200"),
        ({"vertice": [3, 9]}, "did you mean 'vertices'"),
        ({"orbits": [0, 5]}, "orbits: 0 is outside"),
        ({"noise": 2}, r"noise: expected a \[min, max\] pair"),
        ({"amplitude": "big"}, "amplitude: expected a number"),
        ({"vertices": [3.5, 9]}, "expected an integer"),
    ],
)
def test_bad_params_name_the_parameter(overrides, match):
    with pytest.raises(SweepError, match=match):
        get_generator("visualatom", overrides)


@pytest.mark.parametrize("name", RADIAL)
def test_too_small_images_are_refused(name):
    with pytest.raises(SweepError, match="image_size: 4 is too small"):
        get_generator(name, image_size=4)


# ----------------------------------------------------------------------------- geometry
def _official_recursion(cls, gen, img_key, instance):
    """Vertices of every orbit by the official step-by-step recursion (not the closed form),
    with the same random draws as the renderer; returns int (K, q, 2) and the centre."""
    r0x, r0y, cx, cy = gen.instance_geometry(cls, img_key, instance)
    q, k = cls["vertices"], cls["orbits"]
    jitter = 1.0 if gen.name == "visualatom" else 2.0
    theta = 2 * np.pi * np.arange(q) / q
    wave = gen.wave(cls, theta) if gen.name == "visualatom" else np.zeros(q)
    table = noise_table().astype(np.float64) * NOISE_UNIT
    skey = hr.stream_key(np.int64(img_key), hr.SALT_NOISE)
    x = cx + r0x * np.cos(theta)
    y = cy + r0y * np.sin(theta)
    out = np.empty((k, q, 2), dtype=np.int64)
    eta, w = cls["noise"], cls["step"]
    for orbit in range(k):
        h = hr.u32(skey, orbit * q + np.arange(q, dtype=np.int64))
        px, py = table[h & 0xFFFF], table[h >> 16]
        x = x + np.cos(theta) * (eta * (1 - jitter * px) + wave + w)
        y = y + np.sin(theta) * (eta * (1 - jitter * py) + wave + w)
        out[orbit, :, 0] = np.trunc(x * gen.scale)
        out[orbit, :, 1] = np.trunc(y * gen.scale)
    return out


@pytest.mark.parametrize("name", RADIAL)
def test_rendered_orbits_lie_where_the_recursion_puts_them(name):
    import cv2

    ink_grey = 0 if name == "rcdb" else 255  # RCDB draws on white
    gen = get_generator(name, {"grey": [ink_grey] * 2, "orbits": [1, 12]}, image_size=256)
    seeds = Seeds(5)
    checked = 0
    for c in range(6):
        cls = gen.sample_class(seeds, c, {})
        for inst in (0, 3):
            img = gen.render(cls, seeds, c, np.array([inst]))[0]
            ink = img != gen.background
            key = int(hr.image_key(gen.class_key(seeds, c), inst))
            verts = _official_recursion(cls, gen, key, inst)
            expected = np.zeros_like(img)
            for orbit in verts:
                cv2.polylines(expected, [orbit.astype(np.int32)], True, 255, 1, cv2.LINE_8)
            exp_ink = expected > 0
            if exp_ink.sum() < 20:
                continue
            near_exp = cv2.dilate(exp_ink.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
            near_ink = cv2.dilate(ink.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
            # Every drawn pixel is within 1 px of an expected one, and vice versa.
            assert (ink & ~near_exp).sum() <= 0.002 * ink.sum()
            assert (exp_ink & ~near_ink).sum() <= 0.002 * exp_ink.sum()
            # And most coincide exactly (Bresenham and our DDA break half-pixel ties differently,
            # which shows most on RCDB's long segments).
            assert (ink & exp_ink).sum() >= 0.75 * exp_ink.sum()
            checked += 1
    assert checked >= 4


def test_orbits_grow_by_eta_plus_w_per_orbit_within_the_noise_bounds():
    # A circle (oval 1, no wave) of K orbits: every lit pixel's distance from the centre lies in
    # [r0 + k (eta + w) - k eta max|p|, r0 + K (eta + w) + K eta max|p|] (+-1.5 px raster slack).
    r0, eta, w, k = 40, 2.0, 0.05, 30
    params = {
        "vertices": [720, 720],
        "orbits": [k, k],
        "noise": [eta, eta],
        "step": [w, w],
        "radius": [r0, r0],
        "freq1": [0, 0],
        "freq2": [0, 0],
        "oval": [1, 1],
        "start_pos": 0,
        "grey": [255, 255],
    }
    gen = get_generator("visualatom", params, image_size=512)
    seeds = Seeds(0)
    cls = gen.sample_class(seeds, 0, {})
    img = gen.render(cls, seeds, 0, np.arange(1))[0]
    ys, xs = np.nonzero(img)
    r = np.hypot(xs + 0.5 - 256, ys + 0.5 - 256)
    pmax = np.abs(noise_table()).max() * NOISE_UNIT
    assert r.min() >= r0 + (eta + w) - eta * pmax - 1.5
    assert r.max() <= r0 + k * (eta + w) + k * eta * pmax + 1.5
    # The mean radius of the outermost ring follows the closed form r0 + K (eta + w).
    outer = r[r > r0 + (k - 3) * (eta + w) - 3 * eta]
    assert abs(np.median(outer) - (r0 + k * (eta + w))) < 6


def test_geometry_scales_with_image_size():
    params = {"orbits": [20, 20], "grey": [255, 255], "noise": [0.5, 0.5]}
    seeds = Seeds(2)
    big = get_generator("visualatom", params, image_size=512)
    small = get_generator("visualatom", params, image_size=128)
    for c in range(4):
        cls = big.sample_class(seeds, c, {})
        a = big.render(cls, seeds, c, np.arange(1))[0] > 0
        b = small.render(cls, seeds, c, np.arange(1))[0] > 0
        if a.sum() < 500 or b.sum() < 50:
            continue
        ca = np.array(np.nonzero(a)).mean(axis=1) / 4
        cb = np.array(np.nonzero(b)).mean(axis=1)
        assert np.all(np.abs(ca - cb) < 3)  # same geometry, 4x smaller


# ----------------------------------------------------------------------------- draws
def test_instances_differ_only_in_centre_greys_and_noise():
    gen = get_generator("visualatom", image_size=64)
    seeds = Seeds(0)
    cls = gen.sample_class(seeds, 7, {})
    key = gen.class_key(seeds, 7)
    g0 = gen.instance_geometry(cls, int(hr.image_key(key, 0)), 0)
    assert g0[2:] == (cls["center_x"], cls["center_y"])  # instance 0 keeps the class centre
    centres = {gen.instance_geometry(cls, int(hr.image_key(key, i)), i)[2:] for i in range(1, 50)}
    assert len(centres) > 40
    radii = {gen.instance_geometry(cls, int(hr.image_key(key, i)), i)[:2] for i in range(50)}
    assert len(radii) == 1  # r0 and the oval rates are class-level in VisualAtom


def test_rcdb_radius_and_oval_vary_per_instance():
    gen = get_generator("rcdb", image_size=64)
    seeds = Seeds(0)
    cls = gen.sample_class(seeds, 1, {})
    key = gen.class_key(seeds, 1)
    radii = {gen.instance_geometry(cls, int(hr.image_key(key, i)), i)[:2] for i in range(50)}
    assert len(radii) > 40


def test_grey_levels_are_uniform_per_orbit():
    from sweep.generators._radial import grey_levels

    g = np.concatenate([grey_levels(k, 200, 0, 255) for k in range(200)])
    assert g.min() == 0 and g.max() == 255
    counts = np.bincount(g, minlength=256)
    assert counts.std() / counts.mean() < 0.15  # 40000 draws over 256 levels


# ----------------------------------------------------------------------------- determinism
@pytest.mark.parametrize("name", RADIAL)
def test_images_are_pure_functions_of_seed_class_and_instance(name):
    gen = get_generator(name, image_size=64)
    seeds = Seeds(11)
    cls = gen.sample_class(seeds, 3, {})
    batch = gen.render(cls, seeds, 3, np.arange(6))
    one_by_one = np.stack([gen.render(cls, seeds, 3, np.array([i]))[0] for i in range(6)])
    reversed_ = gen.render(cls, seeds, 3, np.arange(6)[::-1])[::-1]
    assert np.array_equal(batch, one_by_one) and np.array_equal(batch, reversed_)
    # A fresh generator object and re-sampled class give the same bytes.
    gen2 = get_generator(name, image_size=64)
    assert np.array_equal(
        batch, gen2.render(gen2.sample_class(Seeds(11), 3, {}), seeds, 3, np.arange(6))
    )
    other = Seeds(12)
    assert not np.array_equal(
        batch, gen.render(gen.sample_class(other, 3, {}), other, 3, np.arange(6))
    )
    assert len({hashlib.sha1(b.tobytes()).hexdigest() for b in batch}) == 6


# The golden byte digests of VisualAtom and RCDB (both render paths) are pinned with every other
# generator's in GOLDEN of tests/test_conformance_generators.py.


# ------------------------------------------------------------------------ common random numbers
@pytest.mark.parametrize("band", [(19, 20), (20, 20), (0, 0), (3, 3), (0, 60), (10, 20)])
def test_every_class_field_consumes_one_draw_whatever_its_range(band):
    """Narrowing a range never shifts the later fields: the two arms of a study keep their
    common random numbers (a one-value range used to consume no draw)."""
    lo, hi = band
    wide = get_generator("visualatom", image_size=32)
    narrow = get_generator("visualatom", {"freq1": [lo, hi], "freq2": [0, 60]}, image_size=32)
    later = ("oval_x", "oval_y", "center_x", "center_y", "noise", "step", "radius")
    for c in range(20):
        a, b = wide.sample_class(Seeds(5), c, {}), narrow.sample_class(Seeds(5), c, {})
        assert all(a[k] == b[k] for k in later), (c, a, b)
        assert lo <= b["freq1"] <= hi


def test_two_bands_map_the_same_draw_monotonically():
    """[0, 20] and [10, 20] draw n1 from the same uniform: their n1 rank together."""
    a = get_generator("visualatom", {"freq1": [0, 20], "freq2": [0, 20]}, image_size=32)
    b = get_generator("visualatom", {"freq1": [10, 20], "freq2": [10, 20]}, image_size=32)
    na = [a.sample_class(Seeds(8), c, {})["freq1"] for c in range(200)]
    nb = [b.sample_class(Seeds(8), c, {})["freq1"] for c in range(200)]
    assert np.corrcoef(na, nb)[0, 1] > 0.95
    assert sorted(set(nb)) == list(range(10, 21))


# ----------------------------------------------------------------------------- device path
def _radial_profile(images: np.ndarray, background: int) -> np.ndarray:
    """Mean ink fraction by distance from the image centre, over a stack of images."""
    ink = (images != background).mean(axis=0)
    s = ink.shape[0]
    yy, xx = np.mgrid[:s, :s]
    r = np.hypot(xx - s / 2, yy - s / 2).astype(int)
    return np.bincount(r.ravel(), ink.ravel()) / np.maximum(np.bincount(r.ravel()), 1)


def _agreement(name: str, device: str, size: int = 128, classes: int = 6, inst: int = 4):
    gen = get_generator(name, image_size=size)
    seeds = Seeds(9)
    cpu, dev = [], []
    for c in range(classes):
        cls = gen.sample_class(seeds, c, {})
        cpu.append(gen.render(cls, seeds, c, np.arange(inst)))
        dev.append(gen.render_torch(cls, seeds, c, np.arange(inst), device).cpu().numpy())
    return gen, np.concatenate(cpu), np.concatenate(dev)


@pytest.mark.parametrize("name", RADIAL)
def test_torch_path_agrees_with_the_cpu_path(name):
    gen, cpu, dev = _agreement(name, "cpu")
    assert dev.dtype == np.uint8 and dev.shape == cpu.shape
    ink_cpu = (cpu != gen.background).mean()
    ink_dev = (dev != gen.background).mean()
    assert abs(ink_cpu - ink_dev) <= 0.01 * ink_cpu
    prof_cpu = _radial_profile(cpu, gen.background)
    prof_dev = _radial_profile(dev, gen.background)
    assert np.corrcoef(prof_cpu, prof_dev)[0, 1] > 0.99
    # Same random draws, same integer rasteriser: nearly every pixel is identical.
    assert (cpu == dev).mean() > 0.995


@pytest.mark.parametrize("name", RADIAL)
def test_torch_path_is_independent_of_batch_and_chunk_size(name):
    import torch

    gen = get_generator(name, image_size=64)
    seeds = Seeds(4)
    cls = gen.sample_class(seeds, 2, {})
    whole = gen.render_torch(cls, seeds, 2, np.arange(8), "cpu")
    parts = torch.cat(
        [
            gen.render_torch(cls, seeds, 2, np.arange(i, min(i + 3, 8)), "cpu")
            for i in range(0, 8, 3)
        ]
    )
    assert torch.equal(whole, parts)


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA device")
@pytest.mark.parametrize("name", RADIAL)
def test_cuda_path_agrees_with_the_cpu_path(name):
    gen, cpu, dev = _agreement(name, "cuda", size=256)
    ink_cpu = (cpu != gen.background).mean()
    assert abs(ink_cpu - (dev != gen.background).mean()) <= 0.01 * ink_cpu
    assert (cpu == dev).mean() > 0.99


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA device")
def test_cuda_path_is_independent_of_batch_size():
    import torch

    gen = get_generator("visualatom", image_size=256)
    seeds = Seeds(4)
    cls = gen.sample_class(seeds, 2, {})
    whole = gen.render_torch(cls, seeds, 2, np.arange(64), "cuda")
    parts = torch.cat(
        [
            gen.render_torch(cls, seeds, 2, np.arange(i, min(i + 5, 64)), "cuda")
            for i in range(0, 64, 5)
        ]
    )
    assert torch.equal(whole, parts)


def test_closed_form_noise_sum_is_exact_integer_arithmetic():
    # The orbit recursion's noise is summed as int16 table units: any order gives equal sums.
    t = noise_table().astype(np.int64)
    idx = np.random.default_rng(0).integers(0, 65536, size=(200, 1000))
    a = np.cumsum(t[idx], axis=0)
    b = np.cumsum(t[idx][::-1], axis=0)[::-1]
    assert np.array_equal(a[-1], b[0])
    assert math.isclose(NOISE_UNIT, 2.0**-15)


_TRITON_CHECK = """
import numpy as np
from sweep.generators import get_generator, _radial
from sweep.seeding import Seeds
bad = total = 0
for name in ["visualatom", "rcdb"]:
    g = get_generator(name, {"orbits": [1, 12], "vertices": [3, 120]}, image_size=40)
    s = Seeds(1)
    for c in range(3):
        cls = g.sample_class(s, c, {})
        a = g.render(cls, s, c, np.arange(2))
        keys, geo = g._geometry(cls, s, c, np.arange(2))
        b = _radial.render_torch(
            g.orbits(cls), r0x=geo[:, 0], r0y=geo[:, 1], cx=geo[:, 2] * g.scale,
            cy=geo[:, 3] * g.scale, img_keys=keys, grey_lo=g.params["grey"][0],
            grey_hi=g.params["grey"][1], background=g.background, size=g.image_size,
            device="cpu", backend="triton").numpy()
        bad += int((a != b).sum()); total += a.size
print(bad, total)
"""


def test_triton_kernel_matches_the_cpu_kernel_in_the_interpreter():
    # The fused CUDA kernel, run by Triton's CPU interpreter: same pixels as the Numba kernel.
    import os
    import subprocess
    import sys

    pytest.importorskip("triton")
    env = dict(os.environ, TRITON_INTERPRET="1")
    res = subprocess.run(
        [sys.executable, "-c", _TRITON_CHECK], env=env, capture_output=True, text=True, timeout=600
    )
    assert res.returncode == 0, res.stderr[-2000:]
    bad, total = map(int, res.stdout.split())
    assert total > 0 and bad <= 0.001 * total


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA device")
@pytest.mark.parametrize("name", RADIAL)
def test_cuda_triton_and_eager_backends_agree(name):
    from sweep.generators import _radial

    gen = get_generator(name, image_size=256)
    seeds = Seeds(8)
    for c in range(4):
        cls = gen.sample_class(seeds, c, {})
        keys, geo = gen._geometry(cls, seeds, c, np.arange(16))
        kw = dict(
            r0x=geo[:, 0],
            r0y=geo[:, 1],
            cx=geo[:, 2] * gen.scale,
            cy=geo[:, 3] * gen.scale,
            img_keys=keys,
            grey_lo=gen.params["grey"][0],
            grey_hi=gen.params["grey"][1],
            background=gen.background,
            size=gen.image_size,
            device="cuda",
        )
        eager = _radial.render_torch(gen.orbits(cls), backend="torch", **kw)
        fused = _radial.render_torch(gen.orbits(cls), backend="triton", **kw)
        assert (eager == fused).float().mean().item() > 0.995
