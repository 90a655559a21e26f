"""The diversity block: Vendi scores against known values, the controls, the real-render check."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from spaces import vit_space_head

from sweep import diversity as D
from sweep.dataset import Dataset, DatasetSpec

#: real launches, workers or trainings: the full suite only (the fast tier: -m "not slow")
pytestmark = pytest.mark.slow


# ----------------------------------------------------------------------------- Vendi
def test_two_identical_clusters_score_two():
    K = np.kron(np.eye(2), np.ones((5, 5)))  # two clusters of 5 identical items, orthogonal
    assert D.vendi_from_kernel(K, 1) == pytest.approx(2.0)
    assert D.vendi_from_kernel(K, 2) == pytest.approx(2.0)
    X = np.repeat(np.eye(2), 5, axis=0)  # the same as features, without centring
    assert D.vendi(X, 1, center=False) == pytest.approx(2.0)
    assert D.vendi(X, 2, center=False) == pytest.approx(2.0)


def test_vendi_score_package_readme_matrix():
    K = np.array([[1.0, 0.9, 0.0], [0.9, 1.0, 0.0], [0.0, 0.0, 1.0]])
    assert D.vendi_from_kernel(K, 1) == pytest.approx(2.1573, abs=5e-5)


def test_n_distinct_orthogonal_items_score_n_for_every_order():
    for q in (0.5, 1, 2, 3, np.inf):
        assert D.vendi_from_kernel(np.eye(7), q) == pytest.approx(7.0)


@pytest.mark.parametrize("q", [1, 2, 0.5, 3])
def test_duplicating_every_item_leaves_vendi_unchanged(q):
    X = np.random.default_rng(0).normal(size=(40, 12))
    assert D.vendi(np.repeat(X, 3, axis=0), q) == pytest.approx(D.vendi(X, q), rel=1e-9)


@pytest.mark.parametrize("shape", [(200, 16), (30, 100)])
def test_q2_closed_form_equals_the_eigenvalue_route(shape):
    X = np.random.default_rng(1).normal(size=shape) + 0.3
    Z = D._normalised(X, True)
    K = Z @ Z.T
    lam = np.linalg.eigvalsh(K / len(K))
    assert D.vendi_from_kernel(K, 2) == pytest.approx(1.0 / np.sum(lam**2), rel=1e-9)
    assert D.vendi(X, 2) == pytest.approx(1.0 / np.sum(lam**2), rel=1e-9)
    # the d x d route (d < n) and the n x n route agree for q = 1 as well
    assert D.vendi(X, 1) == pytest.approx(D.vendi_from_kernel(K, 1), rel=1e-9)


def test_vendi_orders_are_ordered():
    X = np.random.default_rng(2).gamma(1.0, size=(300, 20))
    v = D.vendi_scores(X, (0.5, 1, 2, np.inf))
    assert v[0.5] > v[1] > v[2] > v[np.inf] >= 1.0


def test_centring_matters_for_non_negative_features():
    X = np.random.default_rng(3).random((500, 50)) + 5.0  # all similar without centring
    assert D.vendi(X, 1, center=False) < 1.1
    assert D.vendi(X, 1) > 20


def test_rankme_of_isotropic_rank_k_features_is_k():
    rng = np.random.default_rng(4)
    Q, _ = np.linalg.qr(rng.normal(size=(100, 5)))
    F = Q @ np.diag([3.0] * 5) @ np.linalg.qr(rng.normal(size=(32, 5)))[0].T
    assert D.rankme(F) == pytest.approx(5.0, rel=1e-4)
    assert D.rankme(rng.normal(size=(2000, 8))) == pytest.approx(8.0, rel=0.02)


def test_fisher_ratio_known_value():
    Z = np.array([[0.0, 0], [2, 0], [10, 0], [12, 0]])
    y = np.array([0, 0, 1, 1])
    # S_B: 2 * 5^2 * 2 = 100; S_W: 4 * 1^2 = 4
    assert D.fisher_ratio(Z, y) == pytest.approx(25.0)


# ----------------------------------------------------------------------------- sampling, controls
def test_stratified_sample_is_balanced_without_repeats_and_seeded():
    labels = np.repeat(np.arange(7), 30)
    idx = D.sample_indices(labels, 100, seed=5)
    assert len(idx) == len(set(idx)) == 100
    counts = np.bincount(labels[idx])
    assert counts.max() - counts.min() <= 1
    assert np.array_equal(idx, D.sample_indices(labels, 100, seed=5))
    assert not np.array_equal(idx, D.sample_indices(labels, 100, seed=6))
    assert np.array_equal(D.sample_indices(labels, 10_000, seed=0), np.arange(len(labels)))


def test_stratified_sample_fills_up_from_larger_classes():
    labels = np.array([0] * 3 + [1] * 50)
    idx = D.sample_indices(labels, 20, seed=0)
    assert len(set(idx)) == 20 and np.bincount(labels[idx]).tolist() == [3, 17]


def test_complexity_controls_on_known_images():
    blank = np.zeros((4, 32, 32), np.float32)
    c = D.complexity(blank)
    assert c["ink"] == 0 and c["edges"] == 0
    square = np.zeros((4, 32, 32), np.float32)
    square[:, 8:24, 8:24] = 1.0
    c2 = D.complexity(square)
    # Sobel responds on both sides of each edge: a 2-px ring around the square's outline
    ring = (18 * 18 - 14 * 14) / 32**2
    assert c2["ink"] == 0.25 and c2["edges"] == pytest.approx(ring, abs=4 / 32**2)
    stripes = np.zeros((4, 32, 32), np.float32)
    stripes[:, :, ::4] = stripes[:, :, 1::4] = 1.0  # four times as many edges
    c3 = D.complexity(stripes)
    assert c3["edges"] > 2 * c2["edges"]
    noise = (np.random.default_rng(0).random((4, 32, 32)) > 0.5).astype(np.float32)
    assert D.complexity(noise)["png_bpp"] > c2["png_bpp"] > c["png_bpp"]  # noise compresses worst
    # 1/f amplitude noise has a power spectrum slope of -2
    rng = np.random.default_rng(0)
    s = 64
    f = np.hypot(np.fft.fftfreq(s)[:, None], np.fft.rfftfreq(s)[None, :]) * s
    amp = np.where(f > 0, 1.0 / np.maximum(f, 1e-9), 0.0)
    spec = amp * np.exp(2j * np.pi * rng.random((8, s, s // 2 + 1)))
    noise = np.fft.irfft2(spec, s=(s, s)).astype(np.float32)
    assert D.spectral_slope(noise) == pytest.approx(-2.0, abs=0.15)


def test_block_is_deterministic_and_complete():
    ds = Dataset(DatasetSpec("visualatom", classes=10, instances=12, image_size=32, seed=1))
    x, y = ds.arrays()
    flip = lambda s: s[:, :, ::-1]  # noqa: E731
    a = D.diversity_block(x, y, n=100, seed=3, augment=flip)
    b = D.diversity_block(x, y, n=100, seed=3, augment=flip)
    a.pop("time_s"), b.pop("time_s")
    assert a == b
    keys = {
        *D.HEADLINE,
        *(f"aug_{k}" for k in D.HEADLINE),
        *D.CONTROLS,
        "within_vendi_q1",
        "between_within",
        "fisher",
        "n",
        "feature_size",
    }
    assert set(a) == keys and a["n"] == 100 and a["feature_size"] == 32
    # a left-right flip does not change magnitude spectra: the aug numbers equal the plain ones
    assert a["aug_vendi_q1"] == pytest.approx(a["vendi_q1"], rel=1e-4)
    # an augmentation that changes the spectra changes the aug numbers, and only those
    blank_half = lambda s: np.concatenate([s[:, :16], np.zeros_like(s[:, 16:])], 1)  # noqa: E731
    c = D.diversity_block(x, y, n=100, seed=3, augment=blank_half)
    assert c["vendi_q1"] == a["vendi_q1"] and c["aug_vendi_q1"] != pytest.approx(a["vendi_q1"])
    assert 1.0 <= a["within_vendi_q1"] <= 10.0 + 1e-9  # at most 10 images per class
    assert a["between_within"] == pytest.approx(a["vendi_q1"] / a["within_vendi_q1"])


# ----------------------------------------------------------------------------- real renders
@pytest.mark.parametrize("seed", [0, 1])
def test_spectral_vendi_increases_with_visualatom_frequency_band(seed):
    """The headline metric on REAL renders: VisualAtom at published defaults except the
    frequency band (both n1 and n2), 100 classes x 10 images at 128 px."""
    q1, q2 = [], []
    for band in ([0, 0], [0, 3], [0, 8], [0, 20]):
        ds = Dataset(
            DatasetSpec(
                "visualatom",
                classes=100,
                instances=10,
                image_size=128,
                seed=seed,
                params={"freq1": band, "freq2": band},
            )
        )
        block = D.diversity_block(*ds.arrays(), seed=seed)
        q1.append(block["vendi_q1"])
        q2.append(block["vendi_q2"])
    assert all(a < b for a, b in itertools.pairwise(q1)), q1
    assert all(a < b for a, b in itertools.pairwise(q2)), q2


def test_pixel_vendi_would_not_do():
    """Why the features are spectral: the `vendi-score` package's default (raw pixels, cosine
    kernel, no centring) puts the band [0, 3] below the collapsed band [0, 0]."""
    q1 = []
    for band in ([0, 0], [0, 3]):
        ds = Dataset(
            DatasetSpec(
                "visualatom",
                classes=100,
                instances=10,
                image_size=128,
                params={"freq1": band, "freq2": band},
            )
        )
        x, _ = ds.arrays()
        q1.append(D.vendi(x.reshape(len(x), -1).astype(np.float32), 1, center=False))
    assert q1[1] < q1[0]


# ----------------------------------------------------------------------------- CLI
def test_cli_prints_the_block_as_json(run_sweep, tmp_path):
    r = run_sweep(
        "diversity",
        "--set",
        "freq1=[0,3]",
        "--set",
        "freq2=[0,3]",
        "-c",
        "20",
        "-n",
        "5",
        "-s",
        "64",
        "--augment",
        "cpu",
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["dataset"]["params"]["freq1"] == [0, 3]
    assert out["diversity"]["n"] == 100 and out["diversity"]["vendi_q1"] > 1
    assert "aug_vendi_q2" in out["diversity"]
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_cli_bad_input_is_one_line_exit_2(run_sweep, tmp_path):
    r = run_sweep("diversity", "--set", "freqq=3", cwd=tmp_path)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.count("\n") == 1 and "did you mean 'freq2'" in r.stderr
    r = run_sweep("diversity", "--generator", "visualatomm", cwd=tmp_path)
    assert r.returncode == 2 and "visualatom" in r.stderr


# ----------------------------------------------------------------------------- every trial
SPACE = (
    vit_space_head("divtiny", pretrain=1, finetune=1, probe=5)
    + """\
objectives: [{{headline: maximize}}]
seeds: [0, 1]
budget: {{trials: 2, workers: 1}}
storage: {storage}
"""
)


def test_every_trial_stores_the_block_and_its_dataset(run_sweep, tmp_path):
    import optuna

    from sweep.storage import make_storage, normalize_storage

    space = tmp_path / "divtiny.yaml"
    space.write_text(SPACE.format(storage=tmp_path / "s.db"))
    r = run_sweep("launch", str(space), "--no-progress", cwd=tmp_path, timeout=600)
    assert r.returncode == 0, r.stderr
    storage = make_storage(normalize_storage(str(tmp_path / "s.db")), heartbeat=False)
    trials = optuna.load_study(study_name="divtiny", storage=storage).get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE"]
    for t in trials:
        a = t.user_attrs
        for key in (
            *D.HEADLINE,
            *(f"aug_{k}" for k in D.HEADLINE),
            *D.CONTROLS,
            "within_vendi_q1",
            "between_within",
            "fisher",
        ):
            assert isinstance(a[D.PREFIX + key], float), key
            assert D.PREFIX + key + "_std" in a  # two seeds: mean and spread
        assert a["digits/rankme"] > 1 and a["digits/feature_vendi"] > 1
        ds = a["dataset"]
        assert ds["params"]["freq1"] == ds["params"]["freq2"] == a["param:freq"]
        assert ds["classes"] == 8
        # the stored dataset re-renders: the same fingerprint
        again = Dataset(
            DatasetSpec(
                ds["generator"],
                classes=ds["classes"],
                instances=ds["instances"],
                image_size=ds["image_size"],
                seed=ds["seed"],
                params=ds["params"],
            )
        )
        assert again.fingerprint == ds["fingerprint"] == a["dataset_fingerprint"]
