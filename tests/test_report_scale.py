"""A large study's report draws a seeded sample of the points a figure cannot show, and says so
in the figure (issue 22: 2,000 trials made 110 MiB of HTML and took 129 s).

The caps are lowered (``report_data(..., caps=...)``) so that a study of a few hundred trials,
written by hand in memory with the attributes the engine writes, exercises them in seconds;
``benchmarks/report_scale.py`` measures the time, memory and size at 2,000 and 10,000 trials."""

from __future__ import annotations

import warnings

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState, create_trial

from sweep import record
from sweep.space import ParamSpec
from sweep.study_config import to_raw

#: about 8 s (three reports of a 304-trial study): the full suite only (-m "not slow" skips it)
pytestmark = pytest.mark.slow

FREQ = {
    "name": "freq",
    "type": "int_range",
    "low": 0,
    "high": 20,
    "min_width": 1,
    "targets": ["freq1", "freq2"],
}
SCALE = {"name": "scale", "type": "float", "low": 0.1, "high": 1.0, "targets": ["scale"]}
N_SEARCH = 300
CAPS = {"points": 60, "curves": 15, "configs": 25, "importance_trials": 80, "null_trials": 40}
PUBLISHED = {"freq": [0, 20], "scale": 0.5}


def add(study, values: dict, headline: float, arm: str, seeds: tuple[int, ...]) -> None:
    """One completed trial as the engine writes it (raw Optuna values, the resolved values,
    per-seed values, its arm, a pre-training loss per epoch)."""
    params: dict = {}
    dists: dict = {}
    for e in (FREQ, SCALE):
        p = ParamSpec(**{k: e[k] for k in ("name", "type", "low", "high", "min_width") if k in e})
        params.update(to_raw(p, values[e["name"]]))
        dists.update(p.distributions())
    attrs = {
        "headline": headline,
        record.SEEDS: list(seeds),
        record.ARM: arm,
        record.PER_SEED: {
            str(s): {"headline": headline, record.SCRATCH_METRIC: 40.0 + s % 2} for s in seeds
        },
        record.CONFIG_KEY: record.config_key(values),
        **{record.param_attr(k): v for k, v in values.items()},
    }
    loss = {record.loss_step(0, e): (1.0 - headline / 100.0) / e for e in (1, 2, 3)}
    study.add_trial(
        create_trial(
            state=TrialState.COMPLETE,
            params=params,
            distributions=dists,
            value=headline,
            user_attrs=attrs,
            intermediate_values={k: -v for k, v in loss.items()},
        )
    )


def big_study() -> optuna.Study:
    """300 search trials (random values, headline peaking at freq [2, 9]), the published arm
    on 2 seeds and the published configuration confirmed on 3 more."""
    study = optuna.create_study(direction="maximize")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(["headline"])
    study.set_user_attr(
        record.STUDY_CONFIG, {"search": [FREQ, SCALE], "generator": {"name": "toy"}}
    )
    rng = np.random.default_rng(7)
    add(study, PUBLISHED, 51.0, record.ARM_PUBLISHED, (100, 101))
    for _ in range(N_SEARCH):
        lo = int(rng.integers(0, 20))
        hi = int(rng.integers(lo + 1, 21))
        v = {"freq": [lo, hi], "scale": round(float(rng.uniform(0.1, 1.0)), 6)}
        h = 60.0 - abs(lo - 2) - abs(hi - 9) * 0.5 + float(rng.normal(0, 0.5))
        add(study, v, h, record.ARM_SEARCH, (0,))
    for s in (1000, 1001, 1002):
        add(study, PUBLISHED, 50.0 + s % 3, record.ARM_CONFIRM, (s,))
    return study


@pytest.fixture(scope="module")
def big():
    from reports import figures, report_data

    study = big_study()
    runs = []
    for seed in (0, 0, 1):
        data = report_data(study, samples=False, caps=CAPS, seed=seed)
        runs.append({"data": data, "figs": figures(data)})
    return {"study": study, "runs": runs}


def _note(of: int, shown: int) -> str:
    return f"{of:,} trials; {shown:,} drawn at random (seeded) shown"


def test_range_figures_sample_the_search_points_keep_the_arms_and_say_so(big):
    data, figs = big["runs"][0]["data"], big["runs"][0]["figs"]
    n_done = N_SEARCH + 4
    assert data["caps"]["points"] == CAPS["points"]
    (pair,) = data["ranges"]["pairs"]
    assert pair["sampled"] == {"of": n_done, "shown": CAPS["points"], "note": _note(n_done, 60)}
    arms = [p["arm"] for p in pair["points"]]
    assert arms.count("published") == 1 and arms.count("confirm") == 3  # every arm trial kept
    assert arms.count("search") == CAPS["points"] - 4
    for name in ("range:freq", "range-width:freq"):
        fig = figs[name]
        assert _note(n_done, 60) in fig.layout.title.text, name
        search = next(t for t in fig.data if t.name == "search")
        assert len(search.x) == CAPS["points"] - 4
    # The published marks are over every trial, not the sample.
    assert pair["published_marks"][0]["source"] == "line"


def test_optuna_figures_draw_a_sample_that_keeps_the_history_exact(big):
    data, figs = big["runs"][0]["data"], big["runs"][0]["figs"]
    n_done = N_SEARCH + 4
    for name in ("parallel", "slice", "contour", "history"):
        assert "drawn at random (seeded) shown" in figs[name].layout.title.text, name
    sl = figs["slice"]
    shown = [len(t.x) for t in sl.data if t.type == "scatter" and t.x is not None]
    assert max(shown) <= CAPS["points"] and sum(shown) >= CAPS["points"] * 2 - 10
    # The history's best-value line is the study's: every record-setting trial is drawn.
    done = [r for r in data["trials"] if r["state"] == "COMPLETE"]
    best = max(r["values"][0] for r in done)
    hist = figs["history"]
    lines = [t for t in hist.data if t.mode == "lines" or "Best" in (t.name or "")]
    assert any(max(t.y) == pytest.approx(best) for t in lines)
    points = next(t for t in hist.data if t.mode == "markers")
    assert len(points.x) <= CAPS["points"] < n_done


def test_learning_curves_and_replicates_are_capped_and_say_so(big):
    data, figs = big["runs"][0]["data"], big["runs"][0]["figs"]
    lc = data["learning"]
    assert len(lc["curves"]) == CAPS["curves"] and lc["sampled"]["of"] == N_SEARCH + 4
    assert lc["sampled"]["note"] in figs["learning"].layout.title.text
    rep = data["replicates"]
    assert rep["sampled"]["of"] > CAPS["configs"] >= len(rep["configs"])
    assert "every one run on 2 or more seeds" in rep["sampled"]["note"]
    # the best configuration first, and the replicated published configuration kept
    means = [c["mean"] for c in rep["configs"]]
    assert means == sorted(means, reverse=True)
    assert any(c["seeds"] == 5 for c in rep["configs"])
    assert "configurations;" in figs["replicates"].layout.title.text


def test_importances_are_fitted_on_a_declared_seeded_subsample(big):
    imp = big["runs"][0]["data"]["importances"]
    assert imp["fit"]["trials"] == CAPS["importance_trials"] and imp["fit"]["of"] == N_SEARCH + 4
    assert "random 80 of the 304 completed trials" in imp["fit"]["note"]
    assert imp["null_info"]["trials"] == CAPS["null_trials"] and imp["null_info"]["trees"] == 16
    assert sum(imp["by_objective"]["headline"].values()) == pytest.approx(1.0)
    # freq.min drives the headline here: it is the most important, above its null
    ranked = list(imp["raw"]["headline"])
    assert ranked[0] == "freq.min" and "freq.min" not in imp["noise"]["headline"]


def test_the_sample_is_deterministic_and_seeded(big):
    a, b, c = big["runs"]
    for name, fig in a["figs"].items():
        if isinstance(fig, str):
            continue
        assert fig.to_json() == b["figs"][name].to_json(), name
    pa, pc = a["data"]["ranges"]["pairs"][0], c["data"]["ranges"]["pairs"][0]
    assert [p["number"] for p in pa["points"]] == [
        p["number"] for p in b["data"]["ranges"]["pairs"][0]["points"]
    ]
    assert [p["number"] for p in pa["points"]] != [p["number"] for p in pc["points"]]


def test_the_page_is_the_same_bytes_every_run(big):
    from reports import render_html

    a, b = big["runs"][0], big["runs"][1]
    # the clock is the one input that differs between the runs: the page says when it was made
    assert a["data"]["generated"] and a["data"]["generated"] <= b["data"]["generated"]
    pages = [render_html({**run["data"], "generated": "then"}, run["figs"]) for run in (a, b)]
    assert pages[0] == pages[1]
    assert "304 trials; 60 drawn at random (seeded) shown" in pages[0]


def test_a_small_study_is_drawn_whole():
    from reports import figures, report_data

    data = report_data(big_study(), samples=False, caps={**CAPS, "points": 1000})
    figs = figures(data)
    (pair,) = data["ranges"]["pairs"]
    assert pair["sampled"]["note"] is None and len(pair["points"]) == N_SEARCH + 4
    assert "drawn at random" not in figs["slice"].layout.title.text
    assert "drawn at random" not in figs["range:freq"].layout.title.text
