"""FractalDB and 1p-frac: class search, perturbations, determinism, CPU/torch agreement."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sweep.dataset import Dataset, DatasetSpec
from sweep.errors import SweepError
from sweep.generators import fractal as fr
from sweep.generators import get_generator
from sweep.seeding import Seeds

torch = pytest.importorskip("torch")

SEED = Seeds(7)


@pytest.fixture(scope="module")
def fdb():
    """Published search settings; fewer points per image and a small canvas for speed."""
    return get_generator("fractaldb", {"points": 20_000}, image_size=48)


@pytest.fixture(scope="module")
def fdb_classes(fdb):
    return [fdb.sample_class(SEED, c, {}) for c in range(4)]


@pytest.fixture(scope="module")
def onep():
    return get_generator("1p-frac", {"points": 30_000}, image_size=48)


@pytest.fixture(scope="module")
def onep_shared(onep):
    return onep.prepare(SEED)


@pytest.fixture(scope="module")
def onep_classes(onep, onep_shared):
    return [onep.sample_class(SEED, c, onep_shared) for c in range(5)]


@pytest.fixture
def one_thread():
    """torch CPU ops on one thread: a busy 2-core test machine stalls OpenMP barriers."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _fill(images) -> np.ndarray:
    images = np.asarray(images)
    return (images > 0).reshape(len(images), -1).mean(axis=1)


# ----------------------------------------------------------------------------- FractalDB
def test_fractaldb_published_defaults():
    g = get_generator("fractaldb")
    assert g.params["n_maps"] == (2, 7)
    assert g.params["coef"] == (-1.0, 1.0)
    assert g.params["filling_rate"] == 0.2
    assert g.params["search_points"] == 100_000
    assert g.published_shape == (1000, 1000, 362)
    json.dumps(g.describe())


def test_fractaldb_classes_in_range_and_json(fdb_classes):
    for cls in fdb_classes:
        assert json.loads(json.dumps(cls)) == cls
        maps = np.asarray(cls["maps"])
        assert maps.shape == (cls["n_maps"], 6)
        assert 2 <= cls["n_maps"] <= 7
        assert np.all((maps >= -1) & (maps <= 1))
        assert all(type(v) is float for row in cls["maps"] for v in row)


def test_fractaldb_probabilities_proportional_to_det(fdb_classes):
    for cls in fdb_classes:
        maps = np.asarray(cls["maps"])
        det = np.abs(maps[:, 0] * maps[:, 3] - maps[:, 1] * maps[:, 2])
        np.testing.assert_allclose(cls["probs"], det / det.sum(), rtol=1e-12)


def test_chaos_sequence_follows_probabilities(fdb_classes):
    cls = fdb_classes[0]
    idx = fr.chaos_sequence(SEED, 0, cls["probs"], 200_000)
    freq = np.bincount(idx, minlength=cls["n_maps"]) / len(idx)
    np.testing.assert_allclose(freq, cls["probs"], atol=0.01)
    # the official rule: first j with u <= cumsum(p)_j
    assert fr.map_sequence(np.array([0.0, 0.3, 0.30001, 1.0]), [0.3, 0.7]).tolist() == [0, 0, 1, 1]


def test_fractaldb_accepted_classes_fill_when_rerendered(fdb_classes):
    """Re-render each accepted IFS as the search does (points, 512 px, fresh chaos game)."""
    pts = get_generator("fractaldb", {"patch": 0, "points": 100_000}, image_size=512)
    attempts = []
    for c, cls in enumerate(fdb_classes):
        img = pts.render(cls, SEED, c, np.array([2]))[0]  # instance 2: identity weights, flip 0
        fill = np.count_nonzero(img) / img.size
        assert fill >= 0.2 - 0.01, (c, fill)
        assert abs(fill - cls["filling_rate"]) < 0.015
        assert cls["filling_rate"] >= 0.2
        attempts.append(cls["attempts"])
    assert max(attempts) > 1  # the search did reject candidates


def test_fractaldb_search_cap_raises():
    g = get_generator("fractaldb", {"filling_rate": 0.99, "search_points": 2000})
    g.max_attempts = 5
    with pytest.raises(SweepError, match="filling_rate"):
        g.sample_class(SEED, 0, {})


def test_weight_variants_match_official_table():
    rows = fr.weight_variants(0.4)
    assert len(rows) == 25
    assert rows[2] == (0, 1.0)  # identity is the 3rd row of weights_0.4.csv
    for k in range(6):
        facs = sorted(f for kk, f in rows if kk == k and f != 1.0)
        assert facs == [0.2, 0.6, 1.4, 1.8]
    assert [f for _, f in fr.weight_variants(0.1)[:3]] == [0.8, 0.9, 1.0]


def test_variant_scales_that_parameter_of_every_map(fdb, fdb_classes):
    cls = fdb_classes[0]
    base = np.asarray(cls["maps"])
    for v, (k, fac) in enumerate(fr.weight_variants(0.4)):
        scaled = fdb.variant_maps(cls, v)
        expect = base.copy()
        expect[:, k] *= fac
        np.testing.assert_array_equal(scaled, expect)


def test_fractaldb_instance_mapping_and_flips(fdb, fdb_classes):
    v, f, r = fr.fractaldb_index(np.arange(1000))
    assert len(set(zip(v.tolist(), f.tolist(), r.tolist(), strict=True))) == 1000
    assert v.max() == 24 and f.max() == 3 and r.max() == 9
    imgs = fdb.render(fdb_classes[1], SEED, 1, np.array([2, 27, 52, 77]))  # variant 2, flips
    assert imgs[0].any()
    np.testing.assert_array_equal(imgs[1], imgs[0][::-1])
    np.testing.assert_array_equal(imgs[2], imgs[0][:, ::-1])
    np.testing.assert_array_equal(imgs[3], imgs[0][::-1, ::-1])


def test_fractaldb_renders_share_the_point_set(fdb_classes):
    """Renders of one variant differ only in patch masks: with full squares they coincide."""
    cls = fdb_classes[2]
    full = get_generator("fractaldb", {"points": 20_000, "patch": 2}, image_size=48)
    a, b = full.render(cls, SEED, 2, np.array([3, 103]))  # variant 3, renders 0 and 1
    np.testing.assert_array_equal(a, b)
    rnd = get_generator("fractaldb", {"points": 20_000, "patch": 1}, image_size=48)
    a, b = rnd.render(cls, SEED, 2, np.array([3, 103]))
    assert not np.array_equal(a, b)


def test_fractaldb_pixels_and_modes(fdb_classes):
    cls = fdb_classes[0]
    fills = {}
    for mode in (0, 1, 2):
        g = get_generator("fractaldb", {"points": 20_000, "patch": mode}, image_size=64)
        img = g.render(cls, SEED, 0, np.array([2]))
        assert set(np.unique(img).tolist()) <= {0, 127}
        fills[mode] = _fill(img)[0]
    assert 0 < fills[0] and 0 < fills[1] < fills[2] and fills[0] < fills[2]


def test_fractaldb_deterministic_and_batch_independent(fdb, fdb_classes):
    cls = fdb_classes[3]
    inst = np.array([0, 1, 26, 130, 999, 2, 1003])
    once = fdb.render(cls, SEED, 3, inst)
    split = np.concatenate([fdb.render(cls, SEED, 3, inst[i : i + 1]) for i in range(len(inst))])
    np.testing.assert_array_equal(once, split)
    again = get_generator("fractaldb", {"points": 20_000}, image_size=48)
    np.testing.assert_array_equal(
        once, again.render(again.sample_class(SEED, 3, {}), SEED, 3, inst)
    )
    other = Seeds(8)
    assert not np.array_equal(once, fdb.render(fdb.sample_class(other, 3, {}), other, 3, inst))


def test_fractaldb_torch_matches_cpu(fdb, fdb_classes, one_thread):
    inst = np.array([0, 2, 4, 30, 59, 112, 250])
    for c in (0, 1):
        cls = fdb_classes[c]
        cpu = fdb.render(cls, SEED, c, inst)
        dev = fdb.render_torch(cls, SEED, c, inst, "cpu")
        assert dev.dtype == torch.uint8 and tuple(dev.shape) == cpu.shape
        dev = dev.numpy()
        np.testing.assert_allclose(_fill(dev), _fill(cpu), atol=0.01)
        assert (dev != cpu).mean() < 0.01
        split = torch.cat(
            [
                fdb.render_torch(cls, SEED, c, inst[i : i + 2], "cpu")
                for i in range(0, len(inst), 2)
            ]
        ).numpy()
        np.testing.assert_array_equal(dev, split)
        np.testing.assert_array_equal(dev, fdb.render_torch(cls, SEED, c, inst, "cpu").numpy())


def test_divergent_chain_is_cut_the_same_on_both_paths(one_thread):
    """An expanding IFS (the official lets it overflow to NaN) is cut before it diverges."""
    maps = np.array([[1.9, 0.1, 0.0, 1.7, 0.5, 0.2], [-1.8, 0.0, 0.3, 1.9, -0.4, 0.1]])
    u = Seeds(0).rng("t").random(5000)
    idx = fr.map_sequence(u, [0.5, 0.5])
    px, py = fr.point_cloud(maps, u, [0.5, 0.5], 64, 1.0)
    assert 0 < len(px) < 1000
    tx, ty, nv = fr.torch_point_clouds(maps[None], idx, 64, 1.0, "cpu")
    assert int(nv[0]) == len(px)
    np.testing.assert_array_equal(tx[0, : len(px)].numpy(), px)
    np.testing.assert_array_equal(ty[0, : len(py)].numpy(), py)


# ----------------------------------------------------------------------------- 1p-frac
def test_onep_published_defaults():
    g = get_generator("1p-frac")
    assert g.params["sigma"] == (3.4, 3.6)
    assert g.params["delta"] == 0.1
    assert g.params["n_maps"] == 2
    assert g.params["points"] == 100_000
    assert g.published_shape == (1000, 1, 512)


def test_onep_base_sigma_factor(onep_shared):
    assert json.loads(json.dumps(onep_shared)) == onep_shared
    base = np.asarray(onep_shared["base_maps"])
    assert base.shape == (2, 6)
    a = onep_shared["sigma_factor"]
    assert 3.4 <= a <= 3.6
    assert fr.sigma_factor(base) == pytest.approx(a, abs=1e-9)
    s = np.linalg.svd(base[:, :4].reshape(-1, 2, 2), compute_uv=False)
    assert np.all(s <= 1 + 1e-12)  # contractive maps
    assert np.all(np.abs(base[:, 4:]) <= 1)
    det = np.abs(base[:, 0] * base[:, 3] - base[:, 1] * base[:, 2])
    np.testing.assert_allclose(onep_shared["probs"], det / det.sum(), rtol=1e-12)


@pytest.mark.parametrize("sigma", [(1.0, 1.2), (4.4, 4.6), (5.8, 6.0)])
def test_singular_value_sampler_hits_sigma(sigma):
    rng = np.random.default_rng(0)
    for _ in range(20):
        maps, a, s = fr.sample_system(2, sigma, rng)
        assert sigma[0] <= a <= sigma[1]
        assert np.all((s >= 0) & (s <= 1 + 1e-12)) and np.all(s[:, 0] >= s[:, 1] - 1e-12)
        assert fr.sigma_factor(maps) == pytest.approx(a, abs=1e-9)


def test_onep_classes_perturb_one_base(onep, onep_shared, onep_classes):
    base = np.asarray(onep_shared["base_maps"])
    delta = onep.params["delta"]
    devs = []
    for cls in onep_classes:
        assert json.loads(json.dumps(cls)) == cls
        ratio = np.asarray(cls["maps"]) / base
        assert ratio.shape == (2, 6)
        assert np.all((ratio >= 1 - delta - 1e-12) & (ratio <= 1 + delta + 1e-12))
        assert cls["probs"] == onep_shared["probs"]  # probabilities stay the base's (official)
        assert cls["fill"] > 0.05
        devs.append(np.abs(ratio - 1).max())
    assert max(devs) > delta / 2  # the perturbation uses its range
    assert len({json.dumps(c["maps"]) for c in onep_classes}) == len(onep_classes)


def test_onep_accepted_image_fills_at_512(onep_shared, onep_classes):
    full = get_generator("1p-frac", {"points": 30_000})
    for c, cls in enumerate(onep_classes[:2]):
        img = full.render(cls, SEED, c, np.array([0]))[0]
        assert np.count_nonzero(img) / img.size == pytest.approx(cls["fill"], abs=1e-12)


def test_onep_delta_scales_perturbation(onep_shared):
    g = get_generator("1p-frac", {"delta": 0.0, "points": 30_000}, image_size=48)
    cls = g.sample_class(SEED, 3, onep_shared)
    assert cls["maps"] == onep_shared["base_maps"]
    g = get_generator("1p-frac", {"delta": 0.5, "points": 30_000}, image_size=48)
    ratio = np.asarray(g.sample_class(SEED, 3, onep_shared)["maps"]) / np.asarray(
        onep_shared["base_maps"]
    )
    assert np.all((ratio >= 0.5) & (ratio <= 1.5)) and np.abs(ratio - 1).max() > 0.1


def test_onep_cap_raises(onep_shared):
    g = get_generator("1p-frac", {"min_fill": 0.99, "points": 2000}, image_size=48)
    g.max_attempts = 3
    with pytest.raises(SweepError, match="min_fill"):
        g.sample_class(SEED, 0, onep_shared)


def test_onep_deterministic_and_batch_independent(onep, onep_shared, onep_classes):
    cls = onep_classes[1]
    inst = np.array([0, 1, 5, 2])
    once = onep.render(cls, SEED, 1, inst)
    assert set(np.unique(once).tolist()) == {0, 127}
    split = np.concatenate([onep.render(cls, SEED, 1, inst[i : i + 1]) for i in range(4)])
    np.testing.assert_array_equal(once, split)
    assert not np.array_equal(once[0], once[1])  # instances differ by their patch masks
    g2 = get_generator("1p-frac", {"points": 30_000}, image_size=48)
    sh2 = g2.prepare(SEED)
    assert sh2 == onep_shared
    np.testing.assert_array_equal(once, g2.render(g2.sample_class(SEED, 1, sh2), SEED, 1, inst))
    other = Seeds(8)
    sh3 = onep.prepare(other)
    assert sh3["base_maps"] != onep_shared["base_maps"]
    assert not np.array_equal(once, onep.render(onep.sample_class(other, 1, sh3), other, 1, inst))


def test_onep_torch_matches_cpu(onep, onep_classes, one_thread):
    inst = np.array([0, 1, 2, 3])
    for c in (0, 4):
        cls = onep_classes[c]
        cpu = onep.render(cls, SEED, c, inst)
        dev = onep.render_torch(cls, SEED, c, inst, "cpu")
        assert dev.dtype == torch.uint8
        dev = dev.numpy()
        np.testing.assert_allclose(_fill(dev), _fill(cpu), atol=0.01)
        assert (dev != cpu).mean() < 0.01
        split = torch.cat(
            [onep.render_torch(cls, SEED, c, inst[i : i + 1], "cpu") for i in range(4)]
        ).numpy()
        np.testing.assert_array_equal(dev, split)


# ----------------------------------------------------------------------------- both
@pytest.mark.parametrize(
    ("name", "params", "match"),
    [
        ("fractaldb", {"n_maps": [7, 2]}, "min 7 > max 2"),
        ("fractaldb", {"coef": [1.0, -1.0]}, "min"),
        ("fractaldb", {"filling_rat": 0.3}, "did you mean 'filling_rate'"),
        ("fractaldb", {"patch": 3}, "outside the valid domain"),
        ("fractaldb", {"weight_step": 0.6}, "outside the valid domain"),
        ("1p-frac", {"sigma": [3.6, 3.4]}, "min"),
        ("1p-frac", {"sigma": [5.0, 7.0]}, "n_maps = 2"),
        ("1p-frac", {"dleta": 0.2}, "unknown parameter"),
        ("1p-frac", {"delta": 1.5}, "outside the valid domain"),
    ],
)
def test_bad_params_raise(name, params, match):
    with pytest.raises(SweepError, match=match):
        get_generator(name, params)


@pytest.mark.parametrize(("name", "points"), [("fractaldb", 5000), ("1p-frac", 30_000)])
def test_dataset_api(name, points):
    params = {"points": points}
    ds = Dataset(DatasetSpec(name, classes=2, instances=3, image_size=32, seed=1, params=params))
    images, labels = ds.arrays()
    assert images.shape == (6, 32, 32) and images.dtype == np.uint8
    assert labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert all(img.any() for img in images)
    json.dumps(ds.class_params(1))
