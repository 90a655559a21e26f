"""``sweep noise``: the variance components of a crossed design against hand computations, the
analytic task's data-seed and training-seed noise, and the command end to end on the analytic
task (a real storage, real workers): the cells and their seeds, the stored budget on both
studies, resumability, a changed design, ``--json``, bad input, the report's section and the
answer's next step."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import optuna
import pytest
from scipy.stats import chi2

from sweep import record
from sweep.noise import (
    NOISE_LOW,
    components,
    decision_cost,
    fresh_seeds,
    next_step,
    noise_budget,
    paired_summary,
)
from sweep.paired import mdd, seeds_for_mdd

#: real launches, workers or trainings: the full suite only (the fast tier: -m "not slow")
pytestmark = pytest.mark.slow


def table(m: np.ndarray, data=None, train=None) -> dict[tuple[int, int], float]:
    data = list(range(m.shape[0])) if data is None else data
    train = list(range(m.shape[1])) if train is None else train
    return {(d, t): float(m[i, j]) for i, d in enumerate(data) for j, t in enumerate(train)}


# ----------------------------------------------------------------------------- components
def test_an_additive_table_has_the_sample_variances_of_its_row_and_column_effects():
    a = np.array([1.0, -2.0, 0.5, 3.0])  # data seeds
    b = np.array([0.3, -0.7, 1.9])  # training seeds
    m = 50.0 + a[:, None] + b[None, :]
    c = components(table(m, data=[7, 3, 11, 5], train=[9, 2, 4]))
    assert c["data"] == pytest.approx(np.var(a, ddof=1))
    assert c["train"] == pytest.approx(np.var(b, ddof=1))
    assert c["residual"] == pytest.approx(0.0, abs=1e-12)
    assert (c["data_seeds"], c["train_seeds"], c["cells"]) == (4, 3, 12)
    assert c["mean"] == pytest.approx(m.mean())
    assert c["total"] == pytest.approx(np.var(m, ddof=1)) and c["sd"] == pytest.approx(
        m.std(ddof=1)
    )
    s = c["data"] + c["train"]
    assert c["shares"] == pytest.approx(
        {"data": c["data"] / s, "train": c["train"] / s, "residual": 0.0}
    )


def test_a_pure_interaction_has_only_the_residual_and_the_mean_squares_by_hand():
    e = np.array([[1.0, -1.0, 0.0], [-2.0, 1.0, 1.0], [1.0, 0.0, -1.0]])  # rows, columns sum 0
    c = components(table(10.0 + e))
    assert c["data"] == 0.0 and c["train"] == 0.0  # clipped at 0: (0 - MS_E) / n < 0
    assert c["residual"] == pytest.approx((e**2).sum() / 4)  # (D - 1)(T - 1) = 4
    # A general table: the textbook mean squares, written out cell by cell.
    rng = np.random.default_rng(3)
    m = rng.normal(size=(5, 4)) * 3 + rng.normal(size=(5, 1)) * 2 + rng.normal(size=(1, 4))
    d, t = m.shape
    g = sum(m[i, j] for i in range(d) for j in range(t)) / (d * t)
    rows = [sum(m[i]) / t for i in range(d)]
    cols = [sum(m[:, j]) / d for j in range(t)]
    ms_d = t * sum((r - g) ** 2 for r in rows) / (d - 1)
    ms_t = d * sum((c_ - g) ** 2 for c_ in cols) / (t - 1)
    ms_e = sum((m[i, j] - rows[i] - cols[j] + g) ** 2 for i in range(d) for j in range(t)) / (
        (d - 1) * (t - 1)
    )
    c = components(table(m))
    assert c["data"] == pytest.approx(max(0.0, (ms_d - ms_e) / t))
    assert c["train"] == pytest.approx(max(0.0, (ms_t - ms_e) / d))
    assert c["residual"] == pytest.approx(ms_e)


def test_components_are_recovered_on_a_large_simulated_design():
    rng = np.random.default_rng(20)
    d, t = 80, 80
    m = rng.normal(0, 2.0, (d, 1)) + rng.normal(0, 1.0, (1, t)) + rng.normal(0, 0.5, (d, t))
    c = components(table(m))
    assert c["data"] == pytest.approx(4.0, rel=0.35)
    assert c["train"] == pytest.approx(1.0, rel=0.35)
    assert c["residual"] == pytest.approx(0.25, rel=0.1)


def test_incomplete_or_one_sided_designs():
    m = np.arange(6.0).reshape(2, 3)
    cells = table(m)
    del cells[(1, 2)]
    with pytest.raises(ValueError, match="incomplete"):
        components(cells)
    one = components(table(np.array([[1.0, 2.0, 4.0]])))
    assert one["data"] is None and one["shares"] is None
    assert one["total"] == pytest.approx(np.var([1.0, 2.0, 4.0], ddof=1))


# ----------------------------------------------------------------------------- paired, cost
def test_paired_summary_and_the_decision_cost_against_numpy_and_sweep_paired():
    rng = np.random.default_rng(1)
    shared = rng.normal(0, 3, (4, 4))
    x, y = 60 + shared + rng.normal(0, 1, (4, 4)), 59 + shared + rng.normal(0, 1, (4, 4))
    p = paired_summary(table(x), table(y))
    dd = (x - y).ravel()
    assert p["n"] == 16 and p["diff"] == pytest.approx(dd.mean())
    assert p["sd_paired"] == pytest.approx(dd.std(ddof=1))
    assert p["correlation"] == pytest.approx(np.corrcoef(x.ravel(), y.ravel())[0, 1])
    assert p["sd_unpaired"] == pytest.approx(math.hypot(x.std(ddof=1), y.std(ddof=1)))
    lo = dd.std(ddof=1) * math.sqrt(15 / chi2.ppf(0.975, 15))
    hi = dd.std(ddof=1) * math.sqrt(15 / chi2.ppf(0.025, 15))
    assert p["sd_paired_ci"] == pytest.approx([lo, hi])
    cost = decision_cost(p["sd_paired"], 12.0, delta=0.5)
    assert cost["seeds"] == seeds_for_mdd(p["sd_paired"], 0.5)
    assert mdd(p["sd_paired"], cost["seeds"]) <= 0.5 < mdd(p["sd_paired"], cost["seeds"] - 1)
    assert (cost["trials"], cost["seconds"]) == (2 * cost["seeds"], 24.0 * cost["seeds"])
    assert decision_cost(1.0, None)["seconds"] is None


def test_noise_budget_differences_labels_and_next_step():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(3, 3)), rng.normal(size=(3, 3))
    nb = noise_budget(table(x), table(y), 2.0, 1.0, labels=("narrow", "published"))
    assert nb["labels"] == ["narrow", "published"]
    assert nb["components"]["difference"] == components(table(x - y))
    assert nb["cost"]["seeds"] == seeds_for_mdd(nb["paired"]["sd_paired"], 1.0)
    with pytest.raises(ValueError):
        noise_budget(table(x), table(y), 2.0, labels=("difference", "published"))
    step = next_step(nb)
    assert step is not None and f"{nb['cost']['seeds']} paired seeds" in step
    assert "of the paired variance" in step and "longer" not in step
    assert next_step({}) is None


def test_fresh_seeds_are_distinct_deterministic_and_avoid_used_ones():
    data, train = fresh_seeds("abc", 4, 3)
    assert (data, train) == fresh_seeds("abc", 4, 3)
    seeds = data + train
    assert len(set(seeds)) == 7 and all(NOISE_LOW <= s < 2 * NOISE_LOW for s in seeds)
    again = fresh_seeds("abc", 4, 3, used={data[0], train[1]})
    assert not {data[0], train[1]} & set(again[0] + again[1])
    assert fresh_seeds("abd", 4, 3) != (data, train)


# ----------------------------------------------------------------------------- analytic task
def test_analytic_data_and_train_noise_are_keyed_by_one_seed_and_shared_by_configurations():
    from proxy_tasks import run_trial
    from proxy_tasks.analytic import parse_options
    from proxy_tasks.spec import TrialSpec
    from sweep.errors import SweepError

    def value(freq, d, t, **opts):
        params = {"freq1": freq, "freq2": freq}
        spec = TrialSpec(
            generator="visualatom",
            params=params,
            task="analytic",
            profile="cpu",
            data_seed=d,
            train_seed=t,
            options=opts,
        )
        res = run_trial(spec)
        return res.metrics["headline"]

    for d, t in ((1, 2), (5, 2), (1, 9)):
        base = value([0, 20], d, t)
        plus = value([0, 20], d, t, data_noise=2.0, train_noise=3.0)
        other = [value([10, 20], d, t, data_noise=2.0, train_noise=3.0), value([10, 20], d, t)]
        assert plus != base
        assert other[0] - plus == pytest.approx(other[1] - base)  # cancels in a difference
    only_data = [value([0, 20], 4, t, data_noise=2.0) - value([0, 20], 4, t) for t in (1, 2)]
    assert only_data[0] == pytest.approx(only_data[1])  # keyed by the data seed alone
    only_train = [value([0, 20], d, 6, train_noise=2.0) - value([0, 20], d, 6) for d in (1, 2)]
    assert only_train[0] == pytest.approx(only_train[1])
    for bad in (-1.0, math.nan, "x"):
        with pytest.raises(SweepError, match="finite number"):
            parse_options({"data_noise": bad})
        with pytest.raises(SweepError, match="finite number"):
            parse_options({"train_noise": bad})


# ----------------------------------------------------------------------------- the command
STUDY = """\
study: nz
question: does a narrower band help (noise test)?
generator: {{name: visualatom}}
search:
  freq: {{type: int_range, low: 0, high: 20, min_width: 1, targets: [freq1, freq2]}}
proxy:
  task: analytic
  profile: cpu
  options: {{noise: 1.0, shared_noise: 0.5, data_noise: 2.0, train_noise: 1.5}}
objectives: [{{headline: maximize}}]
smallest_effect: 0.5
budget: {{trials: 2, workers: 1}}
storage: {storage}
{references}"""
REFERENCES = "references: {narrow: {freq: [10, 20]}, wide: {freq: [2, 20]}}\n"
ARGS = ("--data-seeds", "3", "--train-seeds", "2", "--no-progress")


def write(tmp: Path, references: str = REFERENCES, name: str = "nz.yaml") -> Path:
    f = tmp / name
    f.write_text(STUDY.format(storage=tmp / "studies.db", references=references))
    return f


def load(tmp: Path, name: str):
    from sweep.storage import make_storage

    return optuna.load_study(
        study_name=name, storage=make_storage(str(tmp / "studies.db"), heartbeat=False)
    )


@pytest.fixture(scope="module")
def measured(tmp_path_factory, run_sweep):
    """The base study (2 analytic trials), then its noise budget: 'narrow' and the published
    band on 3 data seeds x 2 training seeds = 12 trials, on one worker."""
    tmp = tmp_path_factory.mktemp("noise")
    f = write(tmp)
    res = run_sweep("launch", str(f), "--no-progress", cwd=tmp)
    assert res.returncode == 0, res.stderr[-3000:]
    res = run_sweep("noise", str(f), *ARGS, cwd=tmp)
    return tmp, f, res


def test_the_command_runs_every_cell_of_both_arms_once_on_fresh_seeds(measured):
    from proxy_tasks import run_trial
    from proxy_tasks.spec import TrialSpec
    from sweep.space import values_from_params
    from sweep.study_config import load_study_config
    from sweep.trial import trial_specs

    tmp, f, res = measured
    assert res.returncode == 0, res.stderr[-3000:]
    assert "Traceback" not in res.stderr
    assert "noise budget of 'nz'" in res.stdout and "paired seeds" in res.stdout
    study = load(tmp, "nz.noise")
    plan = study.user_attrs[record.STUDY_NOISE_PLAN]
    assert plan["kind"] == "noise" and plan["labels"] == ["narrow", "published"]
    data, train = plan["data_seeds"], plan["train_seeds"]
    assert len(data) == 3 and len(train) == 2 and len(set(data + train)) == 5
    base_seeds = {s for t in load(tmp, "nz").trials for s in t.user_attrs["seeds"]}
    assert not base_seeds & set(data + train) and min(data + train) >= NOISE_LOW
    trials = study.trials
    assert [t.state.name for t in trials] == ["COMPLETE"] * 12  # no arms, no confirmation
    spec = load_study_config(f)
    cells = {}
    for t in trials:
        a = t.user_attrs
        fixed = a[record.FIXED]
        cell = (a[record.LABEL_NOISE_ARM], fixed["data_seed"], fixed["seeds"][0])
        cells[cell] = a["headline"]
        assert a[record.SEEDS] == [cell[2]] and a[record.DATA_SEEDS] == [cell[1]]
        assert t.params == plan["arms"][cell[0]]["raw"]
        # the number the analytic task gives that cell, computed here
        (one,) = trial_specs(spec, "cpu", values_from_params(spec, t.params), seeds=[0])
        gen, params = one.generator, dict(one.params)
        direct = run_trial(
            TrialSpec(
                generator=gen,
                params=params,
                task="analytic",
                profile="cpu",
                data_seed=cell[1],
                train_seed=cell[2],
                options=dict(spec.options),
            )
        )
        assert a["headline"] == pytest.approx(direct.metrics["headline"], abs=1e-9)
    assert set(cells) == {
        (arm, d, s) for arm in ("narrow", "published") for d in data for s in train
    }
    # The stored budget is the budget of these cells.
    s = study.user_attrs[record.STUDY_NOISE]
    narrow = {(d, t): cells[("narrow", d, t)] for d in data for t in train}
    pub = {(d, t): cells[("published", d, t)] for d in data for t in train}
    expected = noise_budget(narrow, pub, s["trial_s"], 0.5, labels=("narrow", "published"))
    for arm in ("narrow", "published", "difference"):
        got, want = s["components"][arm], expected["components"][arm]
        for k in ("mean", "total", "data", "train", "residual"):
            assert got[k] == pytest.approx(want[k], abs=1e-9), (arm, k)
    assert s["paired"]["sd_paired"] == pytest.approx(expected["paired"]["sd_paired"])
    assert s["cost"]["delta"] == 0.5 and s["cost"]["seeds"] == expected["cost"]["seeds"]
    assert s["design"]["data_seeds"] == data and s["design"]["contrast"] == "narrow"
    assert s["trial_s"] is not None and 0 < s["trial_s"] < 5
    json.dumps(s, allow_nan=False)


def test_the_budget_is_stored_on_both_studies_and_the_answer_follows_it(measured, run_sweep):
    tmp, _, _ = measured
    s = load(tmp, "nz.noise").user_attrs[record.STUDY_NOISE]
    base = load(tmp, "nz")
    assert base.user_attrs[record.STUDY_NOISE] == s
    stored = base.user_attrs[record.STUDY_ANSWER]  # launch's answer, computed again
    assert stored["noise"] == s
    steps = [n for n in stored["next"] if "sweep noise" in n]
    assert steps == [next_step(s)]
    assert f"{s['cost']['seeds']} paired seeds" in steps[0]
    assert "smallest effect (0.5)" in steps[0] and "longer" not in steps[0]
    res = run_sweep("status", "nz", "--storage", str(tmp / "studies.db"), "--json", cwd=tmp)
    assert res.returncode == 0, res.stderr
    assert steps[0] in json.loads(res.stdout)["answer"]["next"]


def test_rerun_and_analyze_only_add_nothing_and_json_is_the_stored_budget(measured, run_sweep):
    tmp, f, _ = measured
    before = load(tmp, "nz.noise").user_attrs[record.STUDY_NOISE]
    res = run_sweep("noise", str(f), *ARGS, "--json", cwd=tmp)
    assert res.returncode == 0, res.stderr[-2000:]
    assert len(load(tmp, "nz.noise").trials) == 12  # nothing enqueued, nothing run again
    out = json.loads(res.stdout)
    assert out["stored_on"] == ["nz.noise", "nz"]
    res = run_sweep("noise", str(f), *ARGS, "--analyze-only", "--json", cwd=tmp)
    assert res.returncode == 0, res.stderr[-2000:]
    again = json.loads(res.stdout)
    for d in (out, again, before):
        for k in ("stored_on", "run_seconds", "analyzed_at"):
            d.pop(k, None)
    assert out == again == before


def test_a_changed_design_is_refused_on_one_line(measured, run_sweep):
    tmp, f, _ = measured
    for extra in (("--data-seeds", "4", "--train-seeds", "2"), ("--contrast", "wide")):
        res = run_sweep("noise", str(f), "--no-progress", *extra, cwd=tmp)
        assert res.returncode == 2, res.stderr
        assert len(res.stderr.strip().splitlines()) == 1, res.stderr
        assert "another design" in res.stderr and "--data-seeds 3 --train-seeds 2" in res.stderr
    assert len(load(tmp, "nz.noise").trials) == 12


def test_the_report_draws_the_budget(measured):
    from reports import figures, render_html, report_data

    tmp, _, _ = measured
    data = report_data(load(tmp, "nz"), samples=False)
    page = render_html(data, figures(data))
    assert '<section id="noise">' in page and 'id="fig-noise"' in page
    section = page.split('<section id="noise">')[1].split("</section>")[0]
    assert "paired difference (narrow \\u2212 published)" in section  # (plotly JSON)
    assert section.count("<tr>") >= 3 + 5  # arms and difference, the paired summary
    assert "noise budget (sweep noise) measured" in section
    s = data["answer"]["answer"]["noise"]
    assert f"{s['paired']['sd_paired']:.3g}" in section
    # A study without a noise budget has no such section.
    from sweep.storage import make_storage

    other = optuna.create_study(storage=make_storage(str(tmp / "studies.db"), heartbeat=False))
    data = report_data(other, samples=False)
    assert '<section id="noise">' not in render_html(data, figures(data))


def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, run_sweep):
    f = write(tmp_path, references="")
    res = run_sweep("noise", str(f), cwd=tmp_path)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert "has no references:" in res.stderr and "references: {contrast: {freq: VALUE}}" in (
        res.stderr
    )
    g = write(tmp_path, name="g.yaml")
    for args, what in (
        (("--contrast", "narow"), "did you mean 'narrow'"),
        (("--data-seeds", "1"), "--data-seeds"),
        (("--train-seeds", "x"), "--train-seeds"),
        (("--workers", "0"), "--workers"),
        (("--data-seeds", "1000", "--train-seeds", "1000"), "at most 100,000"),
        (("--analyze-only",), "without --analyze-only"),
    ):
        res = run_sweep("noise", str(g), *args, cwd=tmp_path)
        assert res.returncode == 2, (args, res.stderr)
        assert len(res.stderr.strip().splitlines()) == 1 and what in res.stderr, res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.yaml", "nz.yaml"]  # no storage


def test_help_names_every_flag(run_sweep, tmp_path):
    res = run_sweep("noise", "--help", cwd=tmp_path)
    assert res.returncode == 0
    flags = (
        "--data-seeds",
        "--train-seeds",
        "--contrast",
        "--profile",
        "--storage",
        "--workers",
        "--device",
        "--analyze-only",
        "--json",
        "--no-progress",
    )
    for flag in flags:
        assert flag in res.stdout
