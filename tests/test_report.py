"""``sweep report`` on real studies: the data against the trials, the page in headless Chromium,
the figures and note attached for optuna-dashboard, and the studies with nothing to show."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import warnings
from pathlib import Path

import cv2
import numpy as np
import optuna
import pytest
from optuna.trial import TrialState
from scipy.stats import spearmanr

from sweep.seeding import Seeds

#: real launches, workers or trainings: the full suite only (the fast tier: -m "not slow")
pytestmark = pytest.mark.slow

TINY = """\
study: {study}
question: {question}
generator: {{name: visualatom}}
search:
  freq: {{type: int_range, low: 0, high: 8, min_width: 1, targets: [freq1, freq2]}}
proxy:
  task: {task}
  profile: cpu{options}
  recipe: {{classes: 8, instances: 16, img_size: 16, patch_size: 4, embed_dim: 32, depth: 1,
           num_heads: 2, pretrain_epochs: 2,
           batch_size: 32, finetune_epochs: 2, finetune_batch: 64, probe_epochs: 10,
           downstream_train: 200, downstream_test: 100, headline: finetune,
           downstreams: [digits]}}
seeds: {seeds}
objectives: {objectives}
sampler: {sampler}
pruner: none
budget: {{trials: {trials}, workers: 2, max_failed: 3{extra}}}
storage: {storage}
"""
QUESTION = "does a wider frequency band help (report test)?"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def sweep(*args, cwd, timeout=300):
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "sweep", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def launch(
    tmp: Path,
    *,
    study="tiny",
    task="vit",
    trials=5,
    seeds="[0, 1]",
    extra="",
    objectives="[{headline: maximize}]",
    sampler="random",
    options: str = "",
    rc: int = 0,
) -> Path:
    db = tmp / "studies.db"
    f = tmp / f"{study}.yaml"
    f.write_text(
        TINY.format(
            study=study,
            question=QUESTION,
            task=task,
            seeds=seeds,
            objectives=objectives,
            sampler=sampler,
            trials=trials,
            extra=extra,
            storage=db,
            options=f"\n  options: {options}" if options else "",
        )
    )
    res = sweep("launch", str(f), "--no-progress", cwd=tmp)
    assert res.returncode == rc, res.stderr[-3000:]
    return db


def load(db: Path, study="tiny"):
    from sweep.storage import make_storage

    return optuna.load_study(study_name=study, storage=make_storage(str(db), heartbeat=False))


@pytest.fixture(scope="module")
def vit(tmp_path_factory):
    """A small real study: 5 ViT proxy trials of 2 seeds each, with the diversity block."""
    tmp = tmp_path_factory.mktemp("vit")
    return tmp, launch(tmp)


@pytest.fixture(scope="module")
def vit_data(vit):
    from reports import report_data

    return report_data(load(vit[1]))


def need_chromium() -> str:
    if CHROMIUM is None:
        if os.environ.get("SWEEP_CI") == "1":
            pytest.fail("chromium is required when SWEEP_CI=1 (.ci/run installs it)")
        pytest.skip("chromium is not installed")
    return CHROMIUM


def chromium(page: Path, tmp: Path, *args: str) -> subprocess.CompletedProcess:
    profile = f"--user-data-dir={tmp / 'chromium-profile'}"
    cmd = [
        need_chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--enable-unsafe-swiftshader",
        "--hide-scrollbars",
        "--virtual-time-budget=20000",
        profile,
        *args,
        page.resolve().as_uri(),
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180)


def open_in_chromium(page: Path, tmp: Path) -> dict:
    """The page's recorded script errors and number of drawn plots, and a screenshot."""
    dom = chromium(page, tmp, "--dump-dom").stdout
    m = re.search(r"<html[^>]*>", dom)
    assert m, dom[:500]
    tag = m.group()
    errors = re.search(r'data-errors="([^"]*)"', tag)
    plots = re.search(r'data-plots="(\d+)"', tag)
    assert errors and plots, f"the page's scripts did not run: {tag}"
    shot = tmp / f"{page.stem}.png"
    chromium(page, tmp, f"--screenshot={shot}", "--window-size=1400,2000")
    import html

    return {
        "errors": json.loads(html.unescape(errors.group(1))),
        "plots": int(plots.group(1)),
        "screenshot": cv2.imread(str(shot), cv2.IMREAD_GRAYSCALE),
    }


def decode(b64: str) -> np.ndarray:
    return cv2.imdecode(np.frombuffer(base64.b64decode(b64), np.uint8), cv2.IMREAD_UNCHANGED)


def system_attrs(study) -> dict:
    return dict(study._storage.get_study_system_attrs(study._study_id))


def completed(study):
    return [t for t in study.get_trials() if t.state == TrialState.COMPLETE]


# ------------------------------------------------------------------------------ statistics
def test_spearman_partial_and_bootstrap_against_independent_computations():
    from reports import correlation, partial_spearman, spearman

    rng = Seeds(7).rng("test")
    n = 30
    z = rng.normal(size=(n, 2))
    x = z[:, 0] + 0.5 * rng.normal(size=n)
    y = z[:, 0] - z[:, 1] + 0.5 * rng.normal(size=n)
    x[:4] = x[0]  # ties
    assert spearman(x, y) == pytest.approx(spearmanr(x, y).statistic, abs=1e-12)
    # Partial correlation from the inverse of the rank correlation matrix (another method).
    ranks = np.column_stack([np.argsort(np.argsort(v)) for v in (x, y, *z.T)]).astype(float)
    ranks[:4, 0] = ranks[:4, 0].mean()  # average ranks of the tied x values
    p = np.linalg.inv(np.corrcoef(ranks.T))
    expected = -p[0, 1] / np.sqrt(p[0, 0] * p[1, 1])
    assert partial_spearman(x, y, z) == pytest.approx(expected, abs=1e-10)
    c = correlation(x, y, {"a": z[:, 0], "b": z[:, 1]}, rng=Seeds(0).rng("b"))
    assert c["rho"] == pytest.approx(spearmanr(x, y).statistic)
    assert c["partial"]["rho"] == pytest.approx(expected) and c["partial"]["controls"] == [
        "a",
        "b",
    ]
    lo, hi = c["ci"]
    assert -1 <= lo < c["rho"] < hi <= 1
    assert c == correlation(x, y, {"a": z[:, 0], "b": z[:, 1]}, rng=Seeds(0).rng("b"))  # seeded
    assert c["ci"] != correlation(x, y, rng=Seeds(1).rng("b"))["ci"]
    # Small and degenerate inputs say why instead of failing.
    c2 = correlation([1.0, 2.0], [3.0, 1.0], rng=Seeds(0).rng("b"))
    assert c2["rho"] is None and "not enough trials" in c2["reason"]
    assert c2["partial"]["rho"] is None and c2["partial"]["reason"] == c2["reason"]
    c3 = correlation([1.0, 1.0, 1.0, 1.0], [3.0, 1.0, 2.0, 4.0], rng=Seeds(0).rng("b"))
    assert c3["rho"] is None and "same in every trial" in c3["reason"]
    c4 = correlation(x[4:8], y[4:8], {"a": z[4:8, 0], "b": z[4:8, 1]}, rng=Seeds(0).rng("b"))
    assert c4["partial"]["rho"] is None and "needs at least 5" in c4["partial"]["reason"]


# ------------------------------------------------------------------------------ data
def test_replicates_pool_seed_std_and_a_repeated_run_is_not_a_replicate():
    """Effect sizes in units of the pooled seed std; the same configuration run again with the
    same seeds (a sampler repeat) adds no replicate."""
    from optuna.distributions import FloatDistribution
    from optuna.trial import create_trial

    from reports import report_data

    study = optuna.create_study(direction="maximize")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(["headline"])
    rows = [
        (0.1, [0, 1], 50.0, 2.0),
        (0.5, [0, 1], 47.0, 1.0),
        (0.9, [0], 40.0, None),
        (0.9, [0], 40.0, None),
        (0.1, [2, 3], 52.0, 2.0),
    ]
    for x, seeds, mean, std in rows:
        attrs = {"param:x": x, "seeds": seeds, "headline": mean}
        if std is not None:
            attrs["headline_std"] = std
        study.add_trial(
            create_trial(
                params={"x": x},
                distributions={"x": FloatDistribution(0, 1)},
                value=mean,
                user_attrs=attrs,
            )
        )
    rep = report_data(study, samples=False)["replicates"]
    by_x = {c["params"]["x"]: c for c in rep["configs"]}
    assert by_x[0.9]["trials"] == [2, 3] and by_x[0.9]["seeds"] == 1 and by_x[0.9]["std"] is None
    a = by_x[0.1]  # two trials of 2 seeds each: 4 replicates, mean 51, pooled std
    assert a["trials"] == [0, 4] and a["seeds"] == 4 and a["mean"] == pytest.approx(51.0)
    assert a["std"] == pytest.approx(np.sqrt((4.0 + 4.0 + 2 * 1.0 + 2 * 1.0) / 3))  # = 2
    assert rep["configs"][0] is a and a["gap"] == 0
    sigma = np.sqrt((3 * a["std"] ** 2 + 1 * 1.0) / 4)
    assert rep["sigma"] == pytest.approx(sigma)
    b = by_x[0.5]
    assert b["effect"] == pytest.approx(4.0 / sigma)
    # no per-seed values stored: the gap is unpaired, and says so
    assert b["paired"] is False and b["paired_seeds"] is None and b["gap"] == pytest.approx(4.0)
    assert b["mdd"] == pytest.approx(2.8 * sigma * np.sqrt(2 / 2))
    assert b["within_noise"] == (4.0 < b["mdd"])
    assert a["paired"] is None and a["mdd"] is None  # the best itself


def test_replicates_gap_is_paired_on_common_seeds_and_grouped_by_configuration_key():
    """Per-seed values with a large effect common to a seed: the gap to the best is the mean
    paired difference on the seeds both ran and its MDD comes from their SD (much smaller than
    the unpaired one); a configuration sharing no seeds with the best falls back to unpaired.
    Trials are grouped by their configuration key, not by their raw parameters."""
    from optuna.distributions import FloatDistribution
    from optuna.trial import create_trial

    from reports import report_data
    from sweep import paired, record

    study = optuna.create_study(direction="maximize")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(["headline"])
    shift = {0: 0.0, 1: 9.0, 2: -7.0, 3: 4.0}  # each seed's common part
    best = {s: 50.0 + v for s, v in shift.items()}
    other = {s: best[s] - d for s, d in zip(shift, [1.0, 1.5, 0.5, 1.2], strict=True)}
    far = {10: 45.0, 11: 47.0}  # no seed in common with the best
    half = [{s: best[s] for s in (0, 1)}, {s: best[s] for s in (2, 3)}]
    trials = [(0.1, "A", half[0]), (0.15, "A", half[1]), (0.5, "B", other), (0.9, "C", far)]
    dist = {"x": FloatDistribution(0, 1)}
    for x, key, vals in trials:
        mean = float(np.mean(list(vals.values())))
        attrs = {
            "seeds": list(vals),
            "headline": mean,
            "headline_std": float(np.std(list(vals.values()), ddof=1)),
            record.CONFIG_KEY: key,
            record.PER_SEED: {str(s): {"headline": y} for s, y in vals.items()},
        }
        study.add_trial(
            create_trial(params={"x": x}, distributions=dist, value=mean, user_attrs=attrs)
        )
    rep = report_data(study, samples=False)["replicates"]
    top, b, c = rep["configs"]
    assert top["trials"] == [0, 1] and top["seeds"] == 4  # one configuration key, two params
    d = np.array([best[s] - other[s] for s in shift])
    assert b["paired"] is True and b["paired_seeds"] == 4
    assert b["gap"] == pytest.approx(d.mean()) and b["sd_paired"] == pytest.approx(d.std(ddof=1))
    assert b["mdd"] == pytest.approx(paired.mdd(d.std(ddof=1), 4))
    assert b["mdd"] < 2.8 * rep["sigma"] * np.sqrt(2 / 4) / 5  # the seed's common part cancels
    assert b["within_noise"] is False  # 1.05 points apart, paired MDD about 0.59
    assert c["paired"] is False and c["paired_seeds"] is None
    assert c["gap"] == pytest.approx(top["mean"] - 46.0)
    assert c["mdd"] == pytest.approx(paired.mdd(np.sqrt(2) * rep["sigma"], 2))


def test_report_data_matches_the_trials(vit, vit_data):
    from reports import correlation, dataset_spec, partial_spearman, view_study
    from sweep.dataset import Dataset

    study = load(vit[1])
    data = vit_data
    done = {t.number: t for t in completed(study)}
    assert len(done) == 5 and data["summary"]["question"] == QUESTION
    assert data["summary"]["counts"]["COMPLETE"] == 5
    # The diversity scatters: one point per completed trial, recomputed correlations.
    dv = data["diversity"]
    assert dv["headline"] == ["diversity/vendi_q1", "diversity/vendi_q2"]
    assert dv["controls"] == [
        f"diversity/{c}" for c in ("ink", "edges", "spectral_slope", "png_bpp")
    ]
    by_x = {c["x"]: c for c in dv["correlations"]}
    for key in dv["headline"]:
        c = by_x[key]
        assert {p["number"] for p in c["points"]} == set(done)
        for p in c["points"]:
            a = done[p["number"]].user_attrs
            assert (p["x"], p["y"], p["x_std"]) == (a[key], a["headline"], a[key + "_std"])
        xs, ys = [p["x"] for p in c["points"]], [p["y"] for p in c["points"]]
        if c["rho"] is None:
            assert "same in every trial" in c["reason"]
        else:
            assert c["rho"] == pytest.approx(spearmanr(xs, ys).statistic)
        # 4 controls need 7 trials: said so; with one control the partial is computed.
        assert "needs at least 7" in (c["reason"] or c["partial"]["reason"])
        ink = [done[p["number"]].user_attrs["diversity/ink"] for p in c["points"]]
        one = correlation(xs, ys, {"ink": ink}, rng=Seeds(0).rng("t"))
        if one["partial"]["rho"] is not None:
            assert one["partial"]["rho"] == pytest.approx(partial_spearman(xs, ys, ink))
    assert {"digits/rankme", "digits/feature_vendi"} <= set(by_x)
    # Searched values as the view study's parameters, trial for trial.
    view = view_study(data)
    for t in view.get_trials(states=(TrialState.COMPLETE,)):
        lo, hi = done[t.number].user_attrs["param:freq"]
        assert t.params == {"freq.min": lo, "freq.max": hi}
        assert t.values == done[t.number].values
    imp = data["importances"]["by_objective"]["headline"]
    assert set(imp) <= {"freq.min", "freq.max"} and sum(imp.values()) == pytest.approx(1.0)
    # Replicates: two seeds per configuration, mean and std from the trials.
    rep = data["replicates"]
    assert rep["reason"] is None and len(rep["configs"]) == len(done)
    for cfg in rep["configs"]:
        (n,) = cfg["trials"]
        a = done[n].user_attrs
        assert cfg["seeds"] == 2 and cfg["mean"] == pytest.approx(a["headline"])
        assert cfg["std"] == pytest.approx(a["headline_std"])
    stds = [done[n].user_attrs["headline_std"] for n in done]
    assert rep["sigma"] == pytest.approx(np.sqrt(np.mean(np.square(stds))))
    assert rep["configs"][0]["gap"] == 0 and all(c["gap"] >= 0 for c in rep["configs"])
    # Learning curves: per replicate and epoch; the last epoch is the trial's pretrain_loss.
    curves = data["learning"]["curves"]
    assert len(curves) == 2 * len(done)
    for n, t in done.items():
        mine = [c for c in curves if c["number"] == n]
        assert [c["replicate"] for c in mine] == [0, 1] and mine[0]["epochs"] == [1, 2]
        last = np.mean([c["values"][-1] for c in mine])
        assert last == pytest.approx(t.user_attrs["pretrain_loss"], rel=1e-6)
    # Thumbnails: the trial's own dataset (fingerprint checked), drawn at 96 px.
    rows = data["samples"]["rows"]
    assert [r["rank"] for r in rows] == [1, 2, 3, 4, 5] and rows[0]["number"] == data["best"][0]
    for r in rows:
        assert r["reason"] is None and len(r["images"]) == 6 and r["trained_px"] == 16
        spec, _ = dataset_spec(done[r["number"]].user_attrs, study.user_attrs)
        assert Dataset(spec).fingerprint == done[r["number"]].user_attrs["dataset_fingerprint"]
        for im in r["images"]:
            img = decode(im["png"])
            assert img.shape == (96, 96) and img.max() > 0
            exact = Dataset(spec).render_class(im["class"], instances=[0])[0]
            assert np.array_equal(decode(im["trained_png"]), exact)  # what the trial trained on


def test_dataset_spec_rebuilt_for_studies_without_the_dataset_attribute(vit):
    """Older trials have no ``dataset`` attribute: the spec comes from the stored config and
    must reproduce the recorded fingerprint, or no thumbnail is drawn."""
    from reports import dataset_spec
    from sweep.dataset import Dataset

    study = load(vit[1])
    t = completed(study)[0]
    old = {k: v for k, v in t.user_attrs.items() if k != "dataset"}
    spec, why = dataset_spec(old, study.user_attrs)
    assert why is None and Dataset(spec).fingerprint == t.user_attrs["dataset_fingerprint"]
    spec, why = dataset_spec({**old, "dataset_fingerprint": "0" * 16}, study.user_attrs)
    assert spec is None and "differs" in why


def test_figures_draw_the_data(vit_data):
    import plotly.graph_objects as go

    from reports import figures

    data = vit_data
    figs = figures(data)
    for key in data["diversity"]["headline"]:
        fig = figs[f"diversity:{key}"]
        (c,) = [c for c in data["diversity"]["correlations"] if c["x"] == key]
        assert list(fig.data[0].x) == [p["x"] for p in c["points"]]
        assert list(fig.data[0].y) == [p["y"] for p in c["points"]]
        assert list(fig.data[0].customdata) == [p["number"] for p in c["points"]]
    done = [r for r in data["trials"] if r["state"] == "COMPLETE"]
    for name in ("importances:headline", "parallel", "slice", "history", "learning", "replicates"):
        assert isinstance(figs[name], go.Figure), (name, figs[name])
    imp = figs["importances:headline"].data[0]
    assert dict(zip(imp.y, imp.x, strict=True)) == pytest.approx(
        data["importances"]["by_objective"]["headline"]
    )
    sl = figs["slice"]  # one panel per resolved value, a point per completed trial
    xs = [list(tr.x) for tr in sl.data if tr.x is not None and len(tr.x) == len(done)]
    assert sorted(xs[0]) == sorted(r["view"][sl.layout.xaxis.title.text] for r in done)
    assert len(figs["learning"].data) == len(data["learning"]["curves"])
    assert "pareto" not in figs  # single-objective


def test_a_real_study_has_its_answer_reference_arms_and_importance_null(vit_data):
    """The ViT study: the answer (stored by the engine, or computed now, or the note), every
    trial's arm, and each importance next to its permutation null."""
    from reports import figures, render_html
    from sweep.answer import VERDICTS

    data = vit_data
    a = data["answer"]
    assert a["verdict"] in VERDICTS or "no answer stored" in a["note"]
    assert {r["arm"] for r in data["trials"]} <= {"search", "published", "confirm"}
    imp = data["importances"]
    assert imp["null_info"]["permutations"] == 30 and imp["null_info"]["trials"] == 5
    assert set(imp["null"]["headline"]) == set(imp["raw"]["headline"])
    page = render_html(data, figures(data))
    assert page.index('<section id="answer">') < page.index('<section id="summary">')


# ------------------------------------------------------------------------------ the page
def test_report_command_writes_one_offline_page_that_renders_without_errors(vit, tmp_path):
    cwd, db = vit
    out = tmp_path / "report.html"
    res = sweep("report", "tiny", "--storage", str(db), "-o", str(out), cwd=cwd)
    assert res.returncode == 0, res.stderr[-3000:]
    assert res.stdout.strip() == str(out)
    page = out.read_text()
    size = out.stat().st_size
    assert 1e6 < size < 8e6, size
    assert page.count("* plotly.js v") == 1  # inlined once
    assert "<script src=" not in page and "<link" not in page  # nothing fetched
    data = json.loads(re.search(r'id="sweep-report-data">(.*?)</script>', page, re.S).group(1))
    assert {r["number"] for r in data["trials"]} == {t.number for t in load(db).get_trials()}
    assert (
        len(re.findall(r'<img alt="trial \d+ class \d+"[^>]*src="data:image/png;base64,', page))
        == 5 * 6
    )
    for n in range(5):  # every thumbnail row and figure point links to its trial's row
        assert f'id="trial-{n}"' in page and f'href="#trial-{n}"' in page
    n_figs = page.count('<div class="figure"')
    assert n_figs >= 9
    seen = open_in_chromium(out, tmp_path)
    assert seen["errors"] == [], seen["errors"]
    assert seen["plots"] == n_figs
    shot = seen["screenshot"]
    assert shot is not None and shot.shape == (2000, 1400)
    assert shot.std() > 20 and (shot < 200).mean() > 0.05  # text, images, plots: not blank
    # The key figures and a note are attached to the study for the dashboard.
    from optuna_dashboard import get_note

    study = load(db)
    assert "Spearman" in get_note(study) and str(out.resolve()) in get_note(study)
    keys = " ".join(system_attrs(study))
    assert "dashboard:plot_data:sweep-diversity-diversity-vendi_q1:" in keys
    before = system_attrs(study)
    res = sweep(
        "report",
        "tiny",
        "--storage",
        str(db),
        "-o",
        str(tmp_path / "again.html"),
        "--no-dashboard",
        cwd=cwd,
    )
    assert res.returncode == 0 and system_attrs(load(db)) == before  # read only


@pytest.mark.serial
def test_dashboard_api_shows_the_study_its_diversity_and_the_attached_figures(
    vit, tmp_path, dashboard
):
    cwd, db = vit
    from reports import write_report

    write_report("tiny", str(db), str(tmp_path / "r.html"))
    with dashboard(db, cwd) as dash:
        studies = dash.get("/api/studies")
        (summary,) = [s for s in studies["study_summaries"] if s["study_name"] == "tiny"]
        detail = dash.get(f"/api/studies/{summary['study_id']}")
    port = dash.port
    assert dash.returncode is not None and f"http://127.0.0.1:{port}/" in dash.stderr
    with socket.socket() as s:  # stopped: the port is closed
        assert s.connect_ex(("127.0.0.1", port)) != 0
    trials = [t for t in detail["trials"] if t["state"] == "Complete"]
    assert len(trials) == 5
    for t in trials:
        attrs = {a["key"]: a["value"] for a in t["user_attrs"]}
        assert {"headline", "diversity/vendi_q1", "param:freq", "dataset"} <= set(attrs)
        n = t["number"]
        assert (
            float(attrs["diversity/vendi_q1"])
            == load(db).trials[n].user_attrs["diversity/vendi_q1"]
        )
    ids = {g["id"] for g in detail["plotly_graph_objects"]}
    assert {
        "sweep-diversity-diversity-vendi_q1",
        "sweep-diversity-diversity-vendi_q2",
        "sweep-replicates",
        "sweep-learning",
    } <= ids
    scatter = next(
        g
        for g in detail["plotly_graph_objects"]
        if g["id"] == "sweep-diversity-diversity-vendi_q1"
    )
    fig = json.loads(scatter["graph_object"])
    assert len(fig["data"][0]["x"]) == 5
    assert "diversity/vendi_q1" in detail["note"]["body"]


# ------------------------------------------------------------------------------ nothing to show
def test_studies_with_no_completed_trials_still_give_a_report_that_says_so(tmp_path):
    # Every trial fails (a timeout far shorter than a trial).
    # (the launch exits 1: every trial failed)
    db = launch(
        tmp_path,
        study="failing",
        task="analytic",
        options="{sleep_s: 2}",
        trials=2,
        seeds="[0]",
        extra=", timeout_s: 0.3",
        rc=1,
    )
    assert {t.state for t in load(db, "failing").get_trials()} == {TrialState.FAIL}
    # And a study with no trials at all, made by Optuna directly (no sweep attributes).
    from sweep.storage import make_storage

    optuna.create_study(study_name="empty", storage=make_storage(str(db), heartbeat=False))
    pages = {}
    for name in ("failing", "empty"):
        res = sweep("report", name, "--storage", str(db), "-o", str(tmp_path), cwd=tmp_path)
        assert res.returncode == 0, res.stderr[-3000:]
        pages[name] = Path(res.stdout.strip())
        assert pages[name] == tmp_path / f"{name}.html"
    text = pages["failing"].read_text()
    assert "No completed trials: 2 failed" in text
    assert text.count(">timeout</td>") == 2  # the failed trials with their reason
    assert "ran past the budget" in text
    assert "No completed trials yet" in pages["empty"].read_text()
    assert "the study has no trials" in pages["empty"].read_text()
    seen = open_in_chromium(pages["failing"], tmp_path)
    assert seen["errors"] == [] and seen["plots"] == 0 and seen["screenshot"].std() > 10


def test_multi_objective_study_has_its_pareto_front(tmp_path):
    from reports import figures, report_data

    db = launch(
        tmp_path,
        study="multi",
        task="analytic",
        trials=8,
        seeds="[0]",
        objectives="[{headline: maximize}, {time_total_s: minimize}]",
        sampler="nsga2",
    )
    study = load(db, "multi")
    data = report_data(study, samples=False)
    front = sorted(t.number for t in study.best_trials)
    assert data["best"] == front
    assert set(data["importances"]["by_objective"]) == {"headline", "time_total_s"}
    assert "no diversity attributes" in data["diversity"]["reason"]
    figs = figures(data)
    traces = [sorted(zip(tr.x, tr.y, strict=True)) for tr in figs["pareto"].data]
    assert sorted(tuple(study.trials[n].values) for n in front) in traces  # the front's trace
    assert sorted(p for tr in traces for p in tr) == sorted(
        tuple(t.values) for t in completed(study)
    )
    assert "history" not in figs and isinstance(figs["learning"], str)


def test_calibration_section_is_included_when_calibrate_offers_one(vit, monkeypatch):
    import plotly.graph_objects as go

    from reports import calibration_section, figures, render_html
    from reports.sections import calibration as provider  # the registry's calibration section

    study = load(vit[1])
    assert calibration_section(study) is None  # no sweep:calibration attribute
    study.set_user_attr("sweep:calibration", {"levels": 2})
    try:
        monkeypatch.setattr(provider, "report_section", lambda s: None)
        assert calibration_section(study) is None  # the provider offers none: skipped silently
        monkeypatch.setattr(
            provider,
            "report_section",
            lambda s: {
                "title": "Proxy calibration",
                "html": "<p>rho 0.8</p>",
                "figures": [go.Figure(go.Bar(x=[1], y=[2]))],
            },
        )
        from reports import report_data

        data = report_data(study, samples=False)
        page = render_html(data, figures(data), calibration=calibration_section(study))
        assert '<section id="calibration"><h2>Proxy calibration</h2><p>rho 0.8</p>' in page
        assert 'id="fig-calibration-0"' in page
    finally:
        study.set_user_attr("sweep:calibration", None)


# ------------------------------------------------------------------------------ bad input
def test_bad_input_is_one_line_exit_2_and_writes_nothing(vit, tmp_path):
    cwd, db = vit
    before = sorted(p.name for p in tmp_path.iterdir())
    res = sweep("report", "tny", "--storage", str(db), "-o", str(tmp_path / "x.html"), cwd=cwd)
    assert res.returncode == 2 and "did you mean 'tiny'" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    res = sweep("report", "tiny", "--storage", str(tmp_path / "missing.db"), cwd=tmp_path)
    assert res.returncode == 2 and "no study database" in res.stderr
    afile = tmp_path / "afile"
    afile.write_text("")
    res = sweep("report", "tiny", "--storage", str(db), "-o", str(afile / "r.html"), cwd=cwd)
    assert res.returncode == 2 and "cannot write" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*before, "afile"])
    assert not (tmp_path / "runs").exists()
