"""Proxy-fidelity estimators (sweep/fidelity.py) on synthetic calibrations with known structure.

A calibration is simulated as true scores of C configurations at two levels, bivariate normal
with correlation ``rho`` (unit variance), plus independent seed noise of standard deviation
``sigma`` per level. The planted values: the Spearman correlation of the true scores,
``(6/pi) asin(rho/2)``; Kendall's tau ``(2/pi) asin(rho)``; the seed noise ``sigma``;
ICC(1) ``1 / (1 + sigma^2)``; the reliability of an S-seed mean ``1 / (1 + sigma^2 / S)``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from sweep import fidelity as f
from sweep import paired
from sweep import stats as rank_stats


def simulate(rng, r, c, s, rho, sigmas, seed_effect=0.0):
    """``r`` calibrations ``(r, 2, c, s)``: the cheap level first, the target last.
    ``seed_effect``: the standard deviation of a shift shared by every configuration at one seed
    (at both levels, as a shared initialisation would be); it changes no ranking."""
    z = rng.standard_normal((r, c, 2))
    true = np.stack([z[..., 0], rho * z[..., 0] + math.sqrt(1 - rho**2) * z[..., 1]], axis=1)
    noise = rng.standard_normal((r, 2, c, s)) * np.asarray(sigmas)[None, :, None, None]
    shift = seed_effect * rng.standard_normal((r, 1, 1, s))
    return true[..., None] + noise + shift


# ----------------------------------------------------------------------------- exact values
def test_rank_correlations_match_scipy_with_ties():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 4, (30, 11)).astype(float)  # many ties
    y = rng.integers(0, 6, (30, 11)).astype(float)
    x[0] = 1.0  # a constant row: no information, correlation 0
    assert np.allclose(rank_stats.ranks(x), stats.rankdata(x, axis=-1))
    rho, tau = f.spearman(x, y), f.kendall_tau_b(x, y)
    for a in range(1, 30):
        assert rho[a] == pytest.approx(stats.spearmanr(x[a], y[a]).statistic)
        assert tau[a] == pytest.approx(stats.kendalltau(x[a], y[a]).statistic)  # tau-b
    assert rho[0] == 0.0 and tau[0] == 0.0
    m = np.stack([x[1], y[1], x[2]])
    assert np.allclose(f.spearman_matrix(m), f.spearman(m[:, None], m[None, :]))
    assert np.allclose(f.kendall_matrix(m), f.kendall_tau_b(m[:, None], m[None, :]))


def test_spearman_brown_mdd_and_attenuation_formulas():
    assert f.spearman_brown(0.5, 2, 2) == pytest.approx(2 * 0.5 / 1.5)  # equal halves
    # unequal halves (S = 3): the model's half correlation maps back to its reliability
    q = 0.7  # noise/signal variance ratio
    r = 1 / math.sqrt((1 + q / 1) * (1 + q / 2))
    assert f.spearman_brown(r, 1, 2) == pytest.approx(1 / (1 + q / 3))
    assert f.spearman_brown(-0.2, 1, 1) == 0.0
    assert f.mdd(1.5, 3) == pytest.approx(paired.mdd(1.5, 3))  # 1.5: the paired SD
    assert paired.mdd(1.5, 3) == pytest.approx(2.8 * 1.5 / math.sqrt(3))
    assert f.correct(0.4, 0.5, 0.8) == pytest.approx(0.4 / math.sqrt(0.4))
    assert f.correct(0.9, 0.5, 0.5) == 1.0  # clipped
    assert np.isnan(f.correct(0.3, 0.05, 0.9))  # below the reliability floor: undefined
    assert [len(a) for a, _ in f.seed_splits(3)] == [1, 1, 1]
    assert len(f.seed_splits(4)) == 3  # {01|23, 02|13, 03|12}


def test_mdd_is_the_paired_one_of_the_seeds_as_blocks_table():
    """A large effect common to every configuration at a seed: the paired MDD
    ``sweep.paired.mdd(sqrt(2 MS_residual), S)`` ignores it, the unpaired
    ``2.8 sigma sqrt(2/S)`` of the one-way SD does not."""
    seed_shift = np.array([0.0, 8.0, -6.0, 3.0, -4.0])  # S = 5 seeds
    config = np.array([0.0, 1.0, 2.0, 3.0])  # C = 4 configurations
    wobble = np.array(
        [
            [0.1, -0.2, 0.0, 0.3, -0.1],
            [-0.2, 0.1, 0.2, 0.0, -0.3],
            [0.3, 0.0, -0.1, -0.2, 0.1],
            [0.0, 0.2, -0.3, 0.1, 0.2],
        ]
    )
    y = config[:, None] + seed_shift[None, :] + wobble  # (C, S)
    c, s = y.shape
    resid = y - y.mean(1, keepdims=True) - y.mean(0, keepdims=True) + y.mean()
    ms_res = (resid**2).sum() / ((c - 1) * (s - 1))
    expected = paired.mdd(math.sqrt(2 * ms_res), s)
    vc = f.variance_components(y, blocked=False)  # the paired SD is blocked either way
    assert vc["ms_res"] == pytest.approx(ms_res)
    # sqrt(2 MS_res)^2 is the mean variance of the paired differences over all pairs
    var_d = [np.var(y[i] - y[j], ddof=1) for i in range(c) for j in range(i + 1, c)]
    assert vc["sd_paired"] ** 2 == pytest.approx(np.mean(var_d))
    unpaired = 2.8 * vc["sigma_seed"] * math.sqrt(2 / s)  # one-way: the seed shift is noise
    assert f.mdd(vc["sd_paired"], s) == pytest.approx(expected) and expected < unpaired / 10
    st = f.statistics(np.stack([y, y + wobble[::-1]]))
    assert st["mdd"][1] == pytest.approx(
        f.mdd(f.variance_components(y + wobble[::-1])["sd_paired"], s)
    )
    # the analysis reports it per level next to the single-arm sigma_seed
    ys = {"cheap": y + wobble[::-1], "target": y}
    res = f.analyse(["cheap", "target"], ys, n_boot=50, rng=np.random.default_rng(0))
    row = res["per_level"][1]
    assert row["sd_paired"]["value"] == pytest.approx(math.sqrt(2 * ms_res))
    assert row["mdd"]["value"] == pytest.approx(expected)
    assert row["sigma_seed"]["value"] == pytest.approx(math.sqrt(ms_res))  # blocked: as before
    lo, hi = row["mdd"]["ci"]
    assert lo <= hi


def test_topk_recall_and_regret():
    target = np.array([5.0, 4.0, 3.0, 2.0, 1.0])
    assert f.topk_recall(target, target, 2) == 1.0
    assert f.topk_recall(-target, target, 2) == 0.0
    assert f.regret(-target, target) == 4.0 and f.regret(target, target) == 0.0
    # within the tie tolerance of the 2nd best (4.0 - 1.5 = 2.5): config 2 counts as top
    assert f.topk_recall(np.array([0, 9, 8, 0, 0.0]), target, 2, tie=1.5) == 1.0
    # a constant proxy is a random pick: expected recall k/C, expected regret best - mean
    const = np.zeros(5)
    assert f.topk_recall(const, target, 2) == pytest.approx(2 / 5)
    assert f.regret(const, target) == pytest.approx(5.0 - 3.0)
    # the chance level: a random pick's recall, k/C without ties, higher when noise ties them
    assert f.topk_chance(target, 2) == pytest.approx(2 / 5)
    assert f.topk_chance(target, 2, tie=1.5) == pytest.approx(3 / 5)
    assert f.topk_chance(target, 2, tie=10.0) == 1.0  # everything tied: recall 1 means nothing
    rng = np.random.default_rng(0)  # and it is what a random proxy's recall averages to
    picks = [rng.permutation(5).astype(float) for _ in range(4000)]
    rand = np.mean([f.topk_recall(p, target, 2, tie=1.5) for p in picks])
    assert rand == pytest.approx(f.topk_chance(target, 2, tie=1.5), abs=0.02)


def test_bootstrap_draws_configs_then_seeds_the_same_for_every_level():
    y = np.arange(2 * 4 * 3, dtype=float).reshape(2, 4, 3)  # level, config, seed: all distinct
    b = f.bootstrap(y, 50, np.random.default_rng(1))
    assert b.shape == (50, 2, 4, 3)
    config = (b // 3) % 4  # which configuration each value came from
    seed = b % 3
    assert np.all(config == config[..., :1])  # one configuration per row: seeds within it
    assert np.all(config[:, 0] == config[:, 1]) and np.all(seed[:, 0] == seed[:, 1])
    assert len(np.unique(seed)) == 3 and len(np.unique(config)) == 4


# ----------------------------------------------------------------------------- planted structure
def test_noise_free_scores_recover_the_planted_rank_correlations():
    rng = np.random.default_rng(2)
    ys = simulate(rng, 400, 40, 2, rho=0.7, sigmas=[0.0, 0.0])
    st = f.statistics(ys)
    assert st["spearman"][:, 0, 1].mean() == pytest.approx(6 / math.pi * math.asin(0.35), abs=0.02)
    assert st["kendall"][:, 0, 1].mean() == pytest.approx(2 / math.pi * math.asin(0.7), abs=0.02)
    assert np.allclose(st["reliability"], 1.0) and np.allclose(st["sigma_seed"], 0.0)
    assert np.allclose(st["corrected"][:, 0, 1], st["spearman"][:, 0, 1])


def test_estimators_recover_planted_correlation_and_noise_and_intervals_cover_it():
    rng = np.random.default_rng(3)
    r, c, s, rho, sigmas = 240, 20, 3, 0.8, np.array([0.8, 0.4])
    planted = 6 / math.pi * math.asin(rho / 2)
    raw_ys = simulate(rng, r, c, s, rho, sigmas, seed_effect=1.5)
    # a seed's shared shift is not noise between configurations: one-way ANOVA counts it ...
    one_way = f.variance_components(raw_ys, blocked=False)["sigma_seed"].mean(0)
    assert np.all(one_way > 1.5 * sigmas)
    ys = f.center_seeds(raw_ys)  # ... seeds as blocks do not (analyse does this first)
    assert np.allclose(ys.mean(-1), raw_ys.mean(-1))
    st = f.statistics(ys)
    corrected = st["corrected"][:, 0, 1]
    raw = st["spearman"][:, 0, 1]
    # the raw correlation of seed means is attenuated by the noise; the correction undoes it
    assert raw.mean() < planted - 0.05
    assert np.nanmean(corrected) == pytest.approx(planted, abs=0.04)
    assert np.sqrt((st["sigma_seed"] ** 2).mean(0)) == pytest.approx(sigmas, rel=0.03)
    assert st["icc1"].mean(0) == pytest.approx(1 / (1 + sigmas**2), abs=0.04)
    assert st["icck"].mean(0) == pytest.approx(1 / (1 + sigmas**2 / s), abs=0.04)
    assert st["reliability"].mean(0) == pytest.approx(1 / (1 + sigmas**2 / s), abs=0.05)
    # independent noise: the paired SD is sqrt(2) sigma, the MDD 2.8 sigma sqrt(2/S)
    assert np.sqrt((st["sd_paired"] ** 2).mean(0)) == pytest.approx(
        sigmas * math.sqrt(2), rel=0.03
    )
    assert st["mdd"].mean(0) == pytest.approx(2.8 * sigmas * math.sqrt(2 / s), rel=0.05)
    # two-stage bootstrap intervals, vectorised over the simulated calibrations
    lo, hi = [], []
    for chunk in np.array_split(ys, 6):
        ci = rank_stats.interval(f.statistics(f.bootstrap(chunk, 300, rng))["corrected"], axis=1)
        lo.append(ci[:, 0, 1, 0])
        hi.append(ci[:, 0, 1, 1])
    lo, hi = np.concatenate(lo), np.concatenate(hi)
    coverage = np.mean((lo <= planted) & (planted <= hi))
    assert 0.90 <= coverage <= 0.995, coverage  # nominal 0.95; the two-stage one is conservative
    # a proxy without fidelity (0) is rarely inside the interval
    assert np.mean((lo <= 0.0) & (0.0 <= hi)) < 0.2
    assert np.median(hi - lo) < 0.8  # informative, not [-1, 1]


def test_analyse_verdict_picks_the_cheapest_faithful_level():
    rng = np.random.default_rng(4)
    c, s = 30, 3
    z = rng.standard_normal((c, 3))
    true = {
        "tiny": z[:, 1],
        "small": 0.97 * z[:, 0] + math.sqrt(1 - 0.97**2) * z[:, 2],
        "full": z[:, 0],
    }
    scores = {k: v[:, None] + 0.25 * rng.standard_normal((c, s)) for k, v in true.items()}
    base = {"constant": {"tiny": np.ones((c, s))}}
    out = f.analyse(
        ["tiny", "small", "full"], scores, baselines=base, n_boot=500, rng=np.random.default_rng(0)
    )
    rows = {r["level"]: r for r in out["vs_target"]}
    assert abs(rows["tiny"]["corrected"]["value"]) < 0.5
    assert rows["small"]["corrected"]["value"] > 0.85
    lo, hi = rows["small"]["corrected"]["ci"]
    assert lo <= rows["small"]["corrected"]["value"] <= hi
    assert out["verdict"]["level"] == "small"
    assert out["matrices"]["spearman"]["value"][2][2] == 1.0
    (b,) = out["baselines"]
    assert b["spearman"]["value"] == 0.0 and b["recall"]["value"] < 0.5
    # nothing cheaper is faithful: "none"
    out = f.analyse(["tiny", "full"], scores, n_boot=200, rng=np.random.default_rng(0))
    assert out["verdict"]["level"] is None
    assert len(out["per_level"][0]["mean"]) == c
