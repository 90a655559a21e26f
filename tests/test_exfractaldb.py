"""ExFractalDB: the acceptance rule, the weight perturbations, the camera, parameters."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from sweep.errors import SweepError
from sweep.generators import _exfractal_ifs as ex
from sweep.generators import exfractaldb as exf
from sweep.generators import get_generator
from sweep.seeding import Seeds

torch = pytest.importorskip("torch")

SEED = Seeds(11)
FOCAL = 1.0 / math.tan(math.radians(22.5))  # glm.perspective(45 deg)


@pytest.fixture(scope="module")
def gen():
    return get_generator("exfractaldb", image_size=64)


@pytest.fixture(scope="module")
def classes(gen):
    return [gen.sample_class(SEED, c, {}) for c in range(4)]


@pytest.fixture
def one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def replay(g, seeds, c):
    """Every candidate the search drew for class c: (maps, probs, cloud, ok, u) in order."""
    p = g.params
    rng = seeds.rng("class", c)
    out = []
    for _ in range(g.sample_class(seeds, c, {})["attempts"]):
        n = int(rng.integers(*p["n_maps"], endpoint=True))
        maps = rng.uniform(*p["coef"], size=(n, 12))
        u = rng.random(p["points"] - 1)
        probs = ex.map_probabilities(maps)
        pts, ok = (
            ex.cloud(maps, probs, u, p["points"]) if np.all(np.isfinite(probs)) else (None, False)
        )
        out.append((maps, probs, pts, ok, u))
    return out


# ----------------------------------------------------------------------------- defaults
def test_published_defaults(gen):
    g = get_generator("exfractaldb")
    assert g.params["n_maps"] == (2, 7) and g.params["coef"] == (-1.0, 1.0)
    assert g.params["variance"] == 0.05 and g.params["points"] == 10_000
    assert g.params["views"] == 12 and g.params["fov"] == 45.0 and g.params["distance"] == 4.0
    assert g.params["clip"] == (1.0, 100.0) and g.params["elevation"] == (0.0, 0.0)
    assert g.params["azimuth"] == pytest.approx((30 - math.pi, 30 + math.pi))
    assert g.published_shape == (1000, 145 * 12, 224) and g.version
    json.dumps(g.describe())


# ----------------------------------------------------------------------------- classes
def test_every_accepted_class_passes_the_rule_and_every_rejected_one_fails(gen, classes):
    for c, cls in enumerate(classes):
        assert json.loads(json.dumps(cls)) == cls
        cands = replay(gen, SEED, c)
        *rejected, (maps, probs, pts, ok, u) = cands
        np.testing.assert_array_equal(maps, cls["maps"])
        np.testing.assert_array_equal(probs, cls["probs"])
        assert ok and np.all(np.isfinite(pts))
        var = np.var(pts, axis=1)
        assert np.all(var > 0.05) and var.tolist() == cls["variance"]
        for _, _, r_pts, r_ok, _ in rejected:
            assert not r_ok or not np.all(np.var(r_pts, axis=1) > 0.05)
        # the official normalisation: ONE min and max over all axes to [-1, 1], then minus the
        # sums divided by point_num (10000, for 9999 points)
        raw, ok = ex.chain(maps, probs, u)
        assert ok and raw.shape == (3, 9999)
        q = (raw - raw.min()) / (raw.max() - raw.min()) * 2 - 1
        np.testing.assert_allclose(pts, q - q.sum(axis=1, keepdims=True) / 10_000, atol=1e-12)
    assert max(c["attempts"] for c in classes) > 1


def test_maps_draws_and_probabilities(classes):
    for cls in classes:
        maps = np.asarray(cls["maps"])
        assert maps.shape == (cls["n_maps"], 12) and 2 <= cls["n_maps"] <= 7
        assert np.all(np.abs(maps) <= 1)
        det = np.abs(np.linalg.det(maps[:, :9].reshape(-1, 3, 3)))
        np.testing.assert_allclose(cls["probs"], det / det.sum(), rtol=1e-12)


def test_a_stricter_threshold_is_obeyed_and_a_hopeless_search_stops():
    g = get_generator("exfractaldb", {"variance": 0.12, "points": 3000}, image_size=32)
    for c in range(2):
        assert min(g.sample_class(SEED, c, {})["variance"]) > 0.12
    g = get_generator("exfractaldb", {"variance": 0.99, "points": 500})
    g.max_attempts = 5
    with pytest.raises(SweepError, match="variance"):
        g.sample_class(SEED, 0, {})


# ----------------------------------------------------------------------------- instances
def test_weight_table_is_the_official_one():
    rows = exf.weight_variants(0.4, 1.6, 0.1)
    assert len(rows) == 145
    grid = [0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6]
    assert rows[:13] == [(0, f) for f in grid] and rows[6] == (0, 1.0)
    for k in range(1, 12):
        assert [f for kk, f in rows if kk == k] == [f for f in grid if f != 1.0]


def test_perturbations_stay_in_their_published_ranges(gen, classes):
    cls = classes[0]
    base = np.asarray(cls["maps"])
    seen = set()
    for v in range(len(gen.variants)):
        scaled = gen.variant_maps(cls, v)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = scaled / base
        cols = [k for k in range(12) if not np.allclose(ratio[:, k], 1.0)]
        assert len(cols) <= 1  # one parameter a..l, scaled in every map
        if cols:
            f = float(ratio[0, cols[0]])
            assert 0.4 - 1e-9 <= f <= 1.6 + 1e-9
            np.testing.assert_allclose(ratio[:, cols[0]], f)
            seen.add((cols[0], round(f, 6)))
    assert len(seen) == 144  # every non-identity (parameter, factor) once


def test_a_weight_range_override_changes_the_variants():
    g = get_generator("exfractaldb", {"weight_range": [0.8, 1.2], "weight_step": 0.2})
    assert g.variants == [(0, 0.8), (0, 1.0), (0, 1.2)] + [
        (k, f) for k in range(1, 12) for f in (0.8, 1.2)
    ]
    g = get_generator("exfractaldb", {"weight_range": [1.0, 1.0]})
    assert g.variants == [(0, 1.0)]


def test_instance_index_covers_every_variant_view_pair():
    v, k, r = exf.exfractal_index(np.arange(145 * 12 * 2), 145, 12)
    pairs = set(zip(v[:1740].tolist(), k[:1740].tolist(), strict=True))
    assert len(pairs) == 1740 and r[:1740].max() == 0 and r[1740:].min() == 1
    assert len(set(k[:24].tolist())) == 12  # a short prefix already varies the view


def test_views_of_one_model_share_its_cloud(gen, classes):
    # instances 0 and 145 are variant 0 at views 0 and 1: the same cloud seen 30 deg apart
    v, k, r = exf.exfractal_index(np.array([0, 145]), 145, 12)
    assert v.tolist() == [0, 0] and k.tolist() == [0, 1] and r.tolist() == [0, 0]
    g = get_generator("exfractaldb", {"azimuth": [0, 0]}, image_size=64)
    a, b = g.render(classes[0], SEED, 0, np.array([0, 145]))
    assert a.any() and b.any() and not np.array_equal(a, b)
    u = g.chaos_uniforms(SEED, 0, 0, 0)
    pts, _ = ex.cloud(g.variant_maps(classes[0], 0), classes[0]["probs"], u, 10_000)
    np.testing.assert_array_equal(
        b, ex.draw_cpu(pts, ex.camera(math.pi / 6, 0.0, 4.0), 64, FOCAL, 1.0, 100.0)
    )


# ----------------------------------------------------------------------------- camera
def test_the_projection_puts_points_where_the_camera_says(one_thread):
    """Azimuth 0: the camera sits at (-4, 0, 0) looking along +x, right = +z, up = +y.

    A point at eye-space (x_e, y_e) and depth d lands at window coordinate
    (F x_e / d + 1) S / 2 with F = 1 / tan(22.5 deg) = 2.41421; S = 224, d = 4:
    +-1 in eye space -> (1 +- 0.60355) * 112 = 179.598 / 44.402 -> pixels 179 / 44.
    Rows count from the bottom (glReadPixels), so +y is row 179.
    """
    cam = ex.camera(0.0, 0.0, 4.0)
    np.testing.assert_allclose(cam[:3], [-4, 0, 0], atol=1e-15)  # eye
    np.testing.assert_allclose(cam[3:6], [0, 0, 1], atol=1e-15)  # right
    np.testing.assert_allclose(cam[6:9], [0, 1, 0], atol=1e-15)  # up
    pts = np.array(
        [
            [0.0, 0.0, 0.0, 0.0, -3.5, 0.0],
            [0.0, 1.0, 0.0, 0.0, 0.0, 3.0],
            [0.0, 0.0, 1.0, -1.0, 0.0, 0.0],
        ]
    )
    # origin, +y, +z, -z, behind the near plane (depth 0.5), above the frustum (ndc 1.81)
    img = ex.draw_cpu(pts, cam, 224, FOCAL, 1.0, 100.0)
    assert sorted(zip(*np.nonzero(img), strict=True)) == [
        (112, 44),
        (112, 112),
        (112, 179),
        (179, 112),
    ]
    assert set(np.unique(img).tolist()) == {0, 255}
    dev = ex.torch_draw(torch.as_tensor(pts)[None], [0], cam[None], 224, FOCAL, 1.0, 100.0)
    np.testing.assert_array_equal(dev[0].numpy(), img)
    # azimuth 90 deg: the camera moves to (0, 0, 4) and +x becomes the right-hand side
    cam90 = ex.camera(math.pi / 2, 0.0, 4.0)
    np.testing.assert_allclose(cam90[:3], [0, 0, 4], atol=1e-12)
    img = ex.draw_cpu(np.array([[1.0], [0.0], [0.0]]), cam90, 224, FOCAL, 1.0, 100.0)
    assert list(zip(*np.nonzero(img), strict=True)) == [(112, 179)]


def test_view_angles_follow_the_official_orbit():
    g = get_generator("exfractaldb", {"views": 4, "azimuth": [30, 30]})
    cams = g.cameras(SEED, 0, np.arange(4), np.arange(4))
    for k in range(4):
        az = math.radians(90 * k + 30)
        np.testing.assert_allclose(
            cams[k, :3], [-4 * math.cos(az), 0, 4 * math.sin(az)], atol=1e-12
        )
    default = get_generator("exfractaldb")
    cams = default.cameras(SEED, 0, np.arange(500), np.zeros(500))
    az = np.degrees(np.arctan2(cams[:, 2], -cams[:, 0]))  # eye = (-4 cos az, 0, 4 sin az)
    assert az.min() >= 30 - math.pi - 1e-9 and az.max() <= 30 + math.pi + 1e-9
    assert az.max() - az.min() > 5  # the +-pi DEGREE jitter of render.py
    np.testing.assert_allclose(cams[:, 1], 0.0, atol=1e-12)


def test_elevation_and_azimuth_ranges_are_sweepable():
    g = get_generator("exfractaldb", {"elevation": [10, 40], "azimuth": [0, 360]})
    cams = g.cameras(SEED, 0, np.arange(400), np.zeros(400))
    el = np.degrees(np.arcsin(-cams[:, 1] / 4))  # eye = -4 f, f_y = sin(el)
    assert el.min() >= 10 - 1e-9 and el.max() <= 40 + 1e-9 and el.max() - el.min() > 20
    np.testing.assert_allclose(np.linalg.norm(cams[:, :3], axis=1), 4.0)


def test_range_overrides_reach_the_classes():
    g = get_generator(
        "exfractaldb", {"n_maps": [3, 3], "coef": [-0.9, 0.9], "points": 3000}, image_size=32
    )
    for c in range(3):
        cls = g.sample_class(SEED, c, {})
        assert cls["n_maps"] == 3 and np.all(np.abs(np.asarray(cls["maps"])) <= 0.9)


# ----------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    "params, key",
    [
        ({"variance": 2}, "variance"),
        ({"weight_range": [1.6, 0.4]}, "weight_range"),
        ({"n_maps": 3}, "n_maps"),
        ({"clip": [5, 5]}, "clip"),
        ({"fov": 180}, "fov"),
        ({"weight_step": 0.001, "weight_range": [0, 10]}, "weight_step"),
        ({"azimth": [0, 360]}, "azimth"),
    ],
)
def test_parameter_errors_name_the_key(params, key):
    with pytest.raises(SweepError) as err:
        get_generator("exfractaldb", params)
    assert err.value.key == key and str(err.value).startswith(f"{key}: ")


def test_unknown_key_suggests_the_right_one():
    with pytest.raises(SweepError, match="did you mean 'azimuth'"):
        get_generator("exfractaldb", {"azimth": [0, 360]})


# ----------------------------------------------------------------------------- divergence
def test_a_diverged_variant_is_drawn_from_the_class_on_both_paths(one_thread):
    """An IFS that a x 1.6 makes expanding: that variant falls back to the class's own maps."""
    maps = [
        [0.9, 0, 0, 0, 0.5, 0, 0, 0, 0.5, 0.1, 0.2, 0.3],
        [0.5, 0.1, 0, 0, 0.5, 0, 0.2, 0, 0.5, -0.5, 0.4, -0.2],
    ]
    cls = {"maps": maps, "probs": [0.9, 0.1]}
    g = get_generator("exfractaldb", {"points": 4000, "azimuth": [0, 0]}, image_size=48)
    v = g.variants.index((0, 1.6))
    u = g.chaos_uniforms(SEED, 0, v, 0)
    assert not ex.cloud(g.variant_maps(cls, v), cls["probs"], u, 4000)[1]
    pts, ok = ex.cloud(maps, cls["probs"], u, 4000)
    assert ok
    img = g.render(cls, SEED, 0, np.array([v]))[0]
    assert img.any()
    k = int(exf.exfractal_index([v], len(g.variants), 12)[1][0])
    np.testing.assert_array_equal(
        img, ex.draw_cpu(pts, ex.camera(2 * math.pi * k / 12, 0.0, 4.0), 48, FOCAL, 1.0, 100.0)
    )
    dev = g.render_torch(cls, SEED, 0, np.array([v, 0]), "cpu").numpy()
    assert (dev[0] != img).mean() < 0.01
