"""The report answers the study's question: the answer section first (in the HTML and in headless
Chromium), old studies without an answer, the reference arms in the figures and the trials
table, the importances against their permutation null, and the dashboard note.

The studies are written by hand into SQLite files (trials with the attributes the engine
writes: arms, per-seed values, scratch, the stored answer), so these tests need no training."""

from __future__ import annotations

import json
import re
import sys
import types
import warnings
from pathlib import Path

import numpy as np
import optuna
import pytest
from markupsafe import escape
from optuna.distributions import FloatDistribution
from optuna.trial import TrialState, create_trial
from test_report import chromium, open_in_chromium

from sweep import record
from sweep.storage import make_storage

#: real launches, workers or trainings: the full suite only (the fast tier: -m "not slow")
pytestmark = pytest.mark.slow

QUESTION = "does a larger x give better pre-training data (answer test)?"
PUBLISHED_X = 0.5
ANSWER = {
    "verdict": "undecided",
    "reason": "the confirmed best x=0.9 is +0.8 points from the published x=0.5: an interval "
    "that holds 0 and reaches past +-1.0",
    "question": QUESTION,
    "metric": "headline",
    "direction": "maximize",
    "winner": None,
    "best": {
        "config": '{"x":0.9}',
        "label": "x=0.9",
        "params": {"x": 0.9},
        "trial": 11,
        "mean": 52.8,
        "seeds": 4,
    },
    "published": {
        "config": '{"x":0.5}',
        "label": "x=0.5",
        "params": {"x": 0.5},
        "trial": 10,
        "mean": 52.0,
        "seeds": 4,
    },
    "scratch": {"mean": 45.0, "seeds": 4},
    "best_vs_published": {"diff": 0.8, "ci": [-0.9, 2.5], "level": 0.95, "n": 4},
    "best_vs_scratch": {"diff": 7.8, "ci": [6.1, 9.5], "level": 0.95, "n": 4},
    "published_vs_scratch": {"diff": 7.0, "ci": [5.2, 8.8], "level": 0.95, "n": 4},
    "omnibus": {
        "test": "randomized-block ANOVA",
        "f": 1.3,
        "df": [1, 3],
        "p": 0.34,
        "icc": 0.05,
        "configs": 2,
        "seeds": 4,
    },
    "sigma_seed": 0.75,
    "sd_paired": 0.42,
    "correlation": 0.69,
    "smallest_effect": 1.0,
    "seeds_to_decide": 12,
    "mdd": 2.1,
    "exact_repeats": {"trials": 2, "fraction": 0.17},
    "arms": {"search": 10, "published": 1, "confirm": 1},
    "warnings": ["the pre-training did not learn: loss 3.82 against chance 4.16"],
    "next": [
        "sweep generate --from answered:11 --image-size 224",
        "about 12 paired seeds per arm decide at the smallest effect that matters (1.0)",
    ],
}


def add(
    study,
    number_x: float,
    value: float,
    seeds: list[int],
    *,
    arm: str | None = None,
    scratch: float = 45.0,
    z: float = 0.0,
) -> None:
    """One COMPLETE trial as the engine writes it: per-seed values, scratch, arm, diversity."""
    per_seed = {
        str(s): {"headline": value + 0.1 * (i - 1), record.SCRATCH_METRIC: scratch + s % 3}
        for i, s in enumerate(seeds)
    }
    mean = float(np.mean([v["headline"] for v in per_seed.values()]))
    attrs = {
        "headline": mean,
        "headline_std": 0.2 if len(seeds) > 1 else 0.0,
        record.SEEDS: seeds,
        record.PER_SEED: per_seed,
        "param:x": number_x,
        "param:z": z,
        "diversity/vendi_q1": 2.0 + 3 * number_x,
        "diversity/vendi_q2": 1.5 + 2 * number_x + z,
    }
    if arm is not None:
        attrs[record.ARM] = arm
    dists = {"x": FloatDistribution(0, 1), "z": FloatDistribution(0, 1)}
    study.add_trial(
        create_trial(
            params={"x": number_x, "z": z}, distributions=dists, value=mean, user_attrs=attrs
        )
    )


def make_study(db: Path, name: str, *, answer: dict | None) -> optuna.Study:
    """10 search trials (one seed each), the published configuration and the confirmed best on
    the common seeds 100-103; ``answer`` stored on the study when given."""
    study = optuna.create_study(
        study_name=name, storage=make_storage(str(db), heartbeat=False), direction="maximize"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(["headline"])
    study.set_user_attr(record.STUDY_QUESTION, QUESTION)
    rng = np.random.default_rng(3)
    for n in range(10):
        x = float(round(n / 9, 3))
        add(study, x, 50.0 + 2.0 * x + rng.normal(0, 0.7), [n], z=float(rng.uniform()))
    add(study, PUBLISHED_X, 52.0, [100, 101, 102, 103], arm=record.ARM_PUBLISHED, z=0.5)
    add(study, 0.9, 52.8, [100, 101, 102, 103], arm=record.ARM_CONFIRM, z=0.5)
    if answer is not None:
        study.set_user_attr(record.STUDY_ANSWER, answer)
    return study


@pytest.fixture(scope="module")
def answered(tmp_path_factory):
    """A study with a stored answer, its data, figures and written report."""
    from reports import figures, report_data, write_report

    tmp = tmp_path_factory.mktemp("answered")
    db = tmp / "studies.db"
    study = make_study(db, "answered", answer=ANSWER)
    out = write_report("answered", str(db), str(tmp / "answered.html"))
    data = report_data(study, samples=False)
    return {
        "tmp": tmp,
        "db": db,
        "study": study,
        "data": data,
        "figs": figures(data),
        "page": Path(out["path"]),
    }


def esc(text: str) -> str:
    """``text`` as the page's templates escape it."""
    return str(escape(text))


def sections_of(page: str) -> list[str]:
    return re.findall(r'<section id="([^"]+)"', page)


def section(page: str, sid: str) -> str:
    m = re.search(rf'<section id="{sid}">(.*?)</section>', page, re.S)
    assert m, sid
    return m.group(1)


# ------------------------------------------------------------------------------ the answer first
def test_the_page_opens_with_the_answer(answered):
    from reports.answer import answer_module, one_line

    page = answered["page"].read_text()
    assert sections_of(page)[:2] == ["answer", "summary"]
    assert re.search(r'<nav><a href="#answer">Answer</a>', page)
    body = section(page, "answer")
    assert 'data-verdict="undecided">undecided</span>' in body
    assert esc(ANSWER["reason"]) in body
    line = one_line(ANSWER, answer_module())
    assert answered["data"]["answer"]["line"] == line and esc(line) in body
    assert answered["data"]["answer"]["source"] == "stored"
    # The warnings come first, visibly; then the question and the verdict.
    warn = body.index('class="warnings"')
    assert warn < body.index(esc(QUESTION)) < body.index("data-verdict")
    assert esc(ANSWER["warnings"][0]) in body
    # Paired differences with 95% intervals and n seeds; the MDD as a sentence; next steps.
    assert "+0.8 [-0.9, +2.5] (95%; n=4 seeds)" in body
    assert "+7.8 [+6.1, +9.5] (95%; n=4 seeds)" in body
    assert "2.1 on these paired seeds" in body  # the paired MDD
    for fact, value in (
        ("smallest effect that matters", "1"),
        ("paired SD", "0.42"),
        ("single-arm seed SD", "0.75"),
        ("correlation of paired arms", "0.69"),
        ("paired seeds that would decide", "12"),
    ):
        assert re.search(rf"<td>{fact}[^<]*</td><td>{re.escape(value)}</td>", body), fact
    assert "<code>sweep generate --from answered:11 --image-size 224</code>" in body
    assert "about 12 paired seeds per arm" in body
    assert 'href="#trial-11"' in body and "x=0.9" in body  # the confirmed best, linked
    # The embedded data carries it too.
    data = json.loads(re.search(r'id="sweep-report-data">(.*?)</script>', page, re.S).group(1))
    assert data["answer"]["verdict"] == "undecided" and data["format"] == 2


def test_the_answer_is_first_in_chromium(answered, tmp_path):
    page = answered["page"]
    seen = open_in_chromium(page, tmp_path)
    assert seen["errors"] == [], seen["errors"]
    dom = chromium(page, tmp_path, "--dump-dom").stdout
    ids = sections_of(dom)
    assert ids[0] == "answer" and "summary" in ids
    first = section(dom, "answer")
    assert 'data-verdict="undecided"' in first and "undecided</span>" in first
    shot = seen["screenshot"]
    # The top of the page (header, nav, the answer) is drawn: not blank, and the red warning box
    # and the verdict badge make it far from uniform.
    top = shot[:700]
    assert top.std() > 20 and (top < 200).mean() > 0.03


# ------------------------------------------------------------------------------ old studies
def test_an_old_study_without_an_answer_still_reports_with_the_note(tmp_path, monkeypatch):
    from reports import dashboard_note, figures, render_html, report_data
    from reports.answer import NO_ANSWER

    study = make_study(tmp_path / "old.db", "old", answer=None)
    monkeypatch.setitem(sys.modules, "sweep.answer", None)  # a checkout without sweep.answer
    data = report_data(study, samples=False)
    assert data["answer"]["note"] == NO_ANSWER and data["answer"]["answer"] is None
    page = render_html(data, figures(data))
    assert sections_of(page)[0] == "answer"
    body = section(page, "answer")
    assert NO_ANSWER in body and esc(QUESTION) in body and "data-verdict" not in body
    assert dashboard_note(data, None).startswith(f"**Answer: none.** {NO_ANSWER}")
    # Without a stored answer and with the statistics failing: the note says so, still reports.
    broken = types.ModuleType("sweep.answer")

    def fails(s):
        raise ValueError("no per-seed values")

    broken.answer_of_study = fails  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sweep.answer", broken)
    data = report_data(study, samples=False)
    assert data["answer"]["note"].startswith(NO_ANSWER)
    assert "computing one now failed: ValueError: no per-seed values" in data["answer"]["note"]
    assert "computing one now failed" in render_html(data, figures(data))


def test_an_old_study_gets_an_answer_computed_now(tmp_path, monkeypatch):
    from reports import figures, render_html, report_data

    study = make_study(tmp_path / "old.db", "old", answer=None)
    fake = types.ModuleType("sweep.answer")
    fake.answer_of_study = lambda s: {
        **ANSWER,
        "verdict": "insufficient_data",  # type: ignore[attr-defined]
        "reason": "no confirmation seeds",
    }
    fake.answer_line = lambda a: f"insufficient data: {a['reason']}"  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sweep.answer", fake)
    data = report_data(study, samples=False)
    a = data["answer"]
    assert (a["source"], a["verdict"], a["line"]) == (
        "computed",
        "insufficient_data",
        "insufficient data: no confirmation seeds",
    )
    body = section(render_html(data, figures(data)), "answer")
    assert 'data-verdict="insufficient_data"' in body and "Computed now by sweep report" in body


def test_the_report_command_on_an_old_study_exits_0(tmp_path):
    from reports import write_report

    make_study(tmp_path / "old.db", "old", answer=None)
    out = write_report("old", str(tmp_path / "old.db"), str(tmp_path / "old.html"))
    page = Path(out["path"]).read_text()
    assert sections_of(page)[0] == "answer"
    # With sweep.answer in this checkout the answer is computed now, else the note is shown.
    assert "data-verdict=" in page or "no answer stored" in page


# ------------------------------------------------------------------------------ reference arms
def shapes(fig) -> dict[str, list]:
    out: dict[str, list] = {}
    for s in fig.layout.shapes:
        out.setdefault(s.name, []).append(s)
    return out


def test_reference_lines_in_every_figure_against_the_headline(answered):
    data, figs = answered["data"], answered["figs"]
    refs = {r["arm"]: r for r in data["references"]["lines"]}
    assert data["references"]["metric"] == "headline"
    # The answer's numbers, so that the page says one thing.
    assert (refs["published"]["value"], refs["published"]["seeds"]) == (52.0, 4)
    assert (refs["scratch"]["value"], refs["scratch"]["seeds"]) == (45.0, 4)
    assert refs["published"]["source"] == "answer"
    for name in (
        "diversity:diversity/vendi_q1",
        "diversity:diversity/vendi_q2",
        "history",
        "slice",
        "replicates",
    ):
        by = shapes(figs[name])
        assert {"reference:published", "reference:scratch"} <= set(by), name
        assert {s.y0 for s in by["reference:published"]} == {52.0}
        assert {s.y0 for s in by["reference:scratch"]} == {45.0}
        labels = [s.label.text for s in by["reference:published"] if s.label.text]
        assert labels == ["published x=0.5: 52 (4 seeds)"], (name, labels)
    # The slice plot has one panel per searched value: a line on each.
    assert len(shapes(figs["slice"])["reference:scratch"]) == 2
    # The scatter's points are still the trials, marked by arm.
    (corr,) = [c for c in data["diversity"]["correlations"] if c["x"] == "diversity/vendi_q1"]
    fig = figs["diversity:diversity/vendi_q1"]
    assert list(fig.data[0].customdata) == [p["number"] for p in corr["points"]]
    symbols = dict(zip(fig.data[0].customdata, fig.data[0].marker.symbol, strict=True))
    assert (symbols[10], symbols[11], symbols[0]) == ("diamond", "square", "circle")
    assert {t.name for t in fig.data[1:]} == {"search", "published", "confirm"}
    # The contour plot has no headline axis: no lines there.
    assert not shapes(figs["contour"])


def test_reference_means_from_the_trials_without_an_answer(tmp_path, monkeypatch):
    from reports import report_data

    monkeypatch.setitem(sys.modules, "sweep.answer", None)
    study = make_study(tmp_path / "old.db", "old", answer=None)
    refs = {r["arm"]: r for r in report_data(study, samples=False)["references"]["lines"]}
    pub = study.trials[10].user_attrs[record.PER_SEED]
    assert refs["published"]["value"] == pytest.approx(
        np.mean([v["headline"] for v in pub.values()])
    )
    assert refs["published"]["seeds"] == 4 and refs["published"]["source"] == "trials"
    # Scratch: one value per distinct seed (seeds 100-103 ran twice), averaged over seeds.
    by_seed = {s: 45.0 + s % 3 for s in [*range(10), 100, 101, 102, 103]}
    assert refs["scratch"]["value"] == pytest.approx(np.mean(list(by_seed.values())))
    assert refs["scratch"]["seeds"] == 14


def test_the_trials_table_marks_the_arms(answered):
    body = section(answered["page"].read_text(), "trials")
    assert "<th>arm</th>" in body
    rows = dict(re.findall(r'<tr id="trial-(\d+)">.*?<td class="arm-\w+">([^<]*)</td>', body))
    assert rows["10"] == "published" and rows["11"] == "confirm" and rows["0"] == "search"
    assert "Reference means of headline" in body and "published x=0.5: 52 (4 seeds)" in body


# ------------------------------------------------------------------------------ importances
def importance_study(n: int, seed: int = 0):
    """``value = 10 x + noise``; ``z`` does nothing."""
    study = optuna.create_study(direction="maximize")
    rng = np.random.default_rng(seed)
    dists = {"x": FloatDistribution(0, 1), "z": FloatDistribution(0, 1)}
    for _ in range(n):
        x, z = float(rng.uniform()), float(rng.uniform())
        study.add_trial(
            create_trial(
                params={"x": x, "z": z}, distributions=dists, value=10 * x + rng.normal(0, 0.5)
            )
        )
    return study


def test_importances_stand_against_a_permutation_null():
    from reports.view import N_PERMUTATIONS, importances

    cols = [{"name": "x"}, {"name": "z"}]
    objectives = [{"name": "value", "direction": "maximize"}]
    study = importance_study(24)
    imp = importances(study, cols, objectives, seed=0)  # type: ignore[arg-type]
    info = imp["null_info"]
    assert info is not None and info["permutations"] == N_PERMUTATIONS == 30
    assert (info["trials"], info["of"], info["note"], info["quantile"]) == (24, 24, None, 0.95)
    raw, null = imp["raw"]["value"], imp["null"]["value"]
    assert set(null) == {"x", "z"}
    assert raw["x"] > null["x"] and raw["z"] <= null["z"]
    assert imp["noise"]["value"] == ["z"]
    assert sum(imp["by_objective"]["value"].values()) == pytest.approx(1.0)
    assert imp == importances(study, cols, objectives, seed=0)  # type: ignore[arg-type]
    # Pure noise: a parameter passes its null about 1 time in 15 (20 permutations; measured
    # 7 of 80 over 40 noise studies): at most 2 of these 8 (probability about 0.98).
    passed = 0
    for k in range(4):
        rng = np.random.default_rng(100 + k)
        noise = optuna.create_study()
        for t in study.trials[:16]:
            noise.add_trial(
                create_trial(
                    params=t.params, distributions=t.distributions, value=float(rng.normal())
                )
            )
        imp = importances(noise, cols, objectives, seed=k, n_perm=20)  # type: ignore[arg-type]
        passed += 2 - len(imp["noise"]["value"])
    assert passed <= 2
    # A study larger than the cap: the null is fitted on a seeded subsample, and says so.
    imp = importances(study, cols, objectives, seed=0, n_perm=5, max_trials=10)  # type: ignore[arg-type]
    info = imp["null_info"]
    assert info is not None and (info["trials"], info["of"], info["permutations"]) == (10, 24, 5)
    assert "random 10 of the 24 completed trials" in (info["note"] or "")


def test_the_importances_figure_and_table_show_the_null(answered):
    data, figs = answered["data"], answered["figs"]
    imp = data["importances"]
    assert imp["null_info"]["permutations"] == 30 and set(imp["null"]["headline"]) == {"x", "z"}
    fig = figs["importances:headline"]
    bars, null = fig.data[0], fig.data[1]
    assert dict(zip(bars.y, bars.x, strict=True)) == pytest.approx(imp["by_objective"]["headline"])
    total = sum(imp["raw"]["headline"].values())
    expected = {k: v / total for k, v in imp["null"]["headline"].items()}
    assert "null 95th percentile" in null.name
    assert dict(zip(null.y, null.x, strict=True)) == pytest.approx(expected)
    body = section(answered["page"].read_text(), "importances")
    assert "null 95th percentile" in body and "30 permutations on 12 trials" in body
    for p in ("x", "z"):
        verdict = (
            "not distinguishable from noise" if p in imp["noise"]["headline"] else "above the null"
        )
        assert re.search(rf'<tr data-param="{p}">.*?{verdict}</td></tr>', body)


# ------------------------------------------------------------------------------ the dashboard
def test_the_dashboard_note_starts_with_the_answer(answered):
    from optuna_dashboard import get_note

    from reports import dashboard_note
    from reports.answer import answer_module, one_line

    line = one_line(ANSWER, answer_module())
    note = dashboard_note(answered["data"], "r.html")
    assert note.startswith(f"**Answer: undecided.** {line}\n")
    assert f"Reason: {ANSWER['reason']}" in note
    assert "> **Warning:** the pre-training did not learn" in note
    assert "- Next: `sweep generate --from answered:11 --image-size 224`" in note
    assert note.index("**Answer") < note.index("## sweep report: answered")
    # write_report attached it to the study.
    stored = optuna.load_study(
        study_name="answered", storage=make_storage(str(answered["db"]), heartbeat=False)
    )
    assert get_note(stored).startswith(f"**Answer: undecided.** {line}")


def test_a_study_without_trials_still_has_its_answer_section(tmp_path, monkeypatch):
    from reports import figures, render_html, report_data

    monkeypatch.setitem(sys.modules, "sweep.answer", None)
    study = optuna.create_study(
        study_name="empty", storage=make_storage(str(tmp_path / "e.db"), heartbeat=False)
    )
    data = report_data(study, samples=False)
    assert (
        data["references"]["lines"] == [] and "no reference arms" in data["references"]["reason"]
    )
    page = render_html(data, figures(data))
    assert sections_of(page)[0] == "answer" and "no answer stored" in page
    assert study.get_trials(states=(TrialState.COMPLETE,)) == []
