"""sweep calibrate: the calibration file, its design, a real tiny calibration on the CPU (vit
proxy, real worker processes, a real Optuna storage), its analysis, report section and the
warning of sweep launch; and the engine's replicates (seeds) in ordinary trials."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import optuna
import pytest
from optuna.trial import TrialState

from sweep.errors import SweepError

#: real launches, workers or trainings: the full suite only (the fast tier: -m "not slow")
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]

#: micro ViT trials of 1-2 s on 2 cores; the linear-probe headline moves with the data, the
#: fine-tuning one of so short a pre-training does not
RECIPE = (
    "{classes: 8, instances: 16, img_size: 16, patch_size: 4, embed_dim: 16, depth: 1,"
    "\n           num_heads: 2, pretrain_epochs: 4,"
    "\n           batch_size: 32, finetune_epochs: 1, finetune_batch: 64, headline: linear,"
    "\n           probe_epochs: 15, downstream_train: 200, downstream_test: 200, threads: 1,"
    "\n           downstreams: [digits]}"
)
TINY = """\
study: tinycal
question: a tiny calibration for the tests
generator: {{name: visualatom}}
search:
  freq: {{type: int_range, low: 0, high: 8, min_width: 1, targets: [freq1, freq2]}}
proxy:
  task: vit
  profile: cpu
  recipe: {recipe}
objectives: [{{headline: maximize}}]
pruner: median
seeds: {seeds}
budget: {{trials: 1, workers: 2, max_failed: 5}}
storage: {storage}
calibration:
{calibration}
"""
CALIBRATION = """\
  configs: 10
  seeds: [0, 1]
  top_k: 2
  bootstrap: 500
  levels:
    - {name: cheap, recipe: {}}
    - {name: dear, recipe: {pretrain_epochs: 8, instances: 32}}"""


def write(
    tmp_path: Path, calibration: str = CALIBRATION, seeds: str = "[0]", name: str = "tiny.yaml"
) -> Path:
    f = tmp_path / name
    f.write_text(
        TINY.format(
            recipe=RECIPE, seeds=seeds, storage=tmp_path / "studies.db", calibration=calibration
        )
    )
    return f


def load_cal(path):
    from sweep.calibration.plan import load_calibration
    from sweep.study_config import load_study_config

    spec = load_study_config(path)
    return spec, load_calibration(spec)


def open_study(tmp_path: Path, name: str):
    from sweep.storage import make_storage, normalize_storage

    url = normalize_storage(str(tmp_path / "studies.db"))
    return optuna.load_study(study_name=name, storage=make_storage(url, heartbeat=False))


# ----------------------------------------------------------------------------- the file
def test_shipped_calibration_file_is_valid_and_sized_as_documented():
    spec, cals = load_cal(ROOT / "search_spaces" / "calibrate_freq.yaml")
    gpu, cpu = cals["gpu"], cals["cpu"]
    assert (len(gpu.configs), len(gpu.levels), len(gpu.seeds)) == (12, 3, 3)
    assert len(gpu.cells()) == 108 and len(cpu.cells()) == 10 * 2 * 2
    assert gpu.study == "visualatom-freq-calibration-gpu" and spec.study == "visualatom-freq"
    # the gpu ladder grows in every field it varies; its middle level is the gpu preset
    res = [lv.resolved for lv in gpu.levels]
    for field in gpu.ladder_fields:
        assert res[0][field] <= res[1][field] <= res[2][field], field
    assert dict(gpu.levels[1].recipe) == {}


def test_sobol_and_lhs_designs_are_seeded_distinct_and_inside_the_space(tmp_path):
    f = write(tmp_path)
    _, cals = load_cal(f)
    cal = cals["cpu"]
    assert len(cal.configs) == 10
    values = [tuple(v["freq"]) for v in cal.values]
    assert len(set(values)) == 10  # distinct configurations
    assert all(0 <= lo < hi <= 8 for lo, hi in values)  # min_width 1
    lows = sorted(lo for lo, _ in values)
    assert lows[0] <= 1 and lows[-1] >= 6  # spread over the space, not clustered
    _, again = load_cal(f)
    assert again["cpu"].configs == cal.configs  # deterministic
    g = write(
        tmp_path, CALIBRATION.replace("configs: 10", "configs: 10\n  seed: 7"), name="s.yaml"
    )
    assert load_cal(g)[1]["cpu"].configs != cal.configs
    h = write(
        tmp_path, CALIBRATION.replace("configs: 10", "configs: 10\n  design: lhs"), name="l.yaml"
    )
    lhs = load_cal(h)[1]["cpu"]
    assert len({json.dumps(v) for v in lhs.values}) == 10 and lhs.configs != cal.configs


def test_list_design_maps_values_to_the_searched_space_exactly(tmp_path):
    bands = [[0, 1], [0, 8], [3, 4], [2, 7], [7, 8], [1, 5], [4, 6], [5, 8], [0, 3], [6, 7]]
    listed = "\n".join(f"    - {{freq: {b}}}" for b in bands)
    f = write(tmp_path, CALIBRATION.replace("configs: 10", f"design: list\n  list:\n{listed}"))
    spec, cals = load_cal(f)
    cal = cals["cpu"]
    assert [v["freq"] for v in cal.values] == bands
    (p,) = spec.search
    assert [p.value(c) for c in cal.configs] == bands  # what the trials will run


@pytest.mark.parametrize(
    ("edit", "where", "message"),
    [
        (("configs: 10", "configs: 10\n  seeds_: [0, 1]"), "calibration.seeds_", "did you mean"),
        (("configs: 10", "configs: 4"), "calibration.configs", ">= 10"),
        (("seeds: [0, 1]", "seeds: [3]"), "calibration.seeds", "at least 2"),
        (
            ("pretrain_epochs: 8, instances", "pretrain_epochs: -1, instances"),
            "calibration.levels.1.recipe.pretrain_epochs",
            "must be positive",
        ),
        (("name: dear", "name: cheap"), "calibration.levels.1.name", "listed twice"),
        (
            ("{pretrain_epochs: 8, instances: 32}", "{}"),
            "calibration.levels.1",
            "same recipe as level 'cheap'",
        ),
        (
            ("configs: 10", "design: list\n  list: [{freq: [0, 1]}]"),
            "calibration.list",
            "at least 10",
        ),
        (("top_k: 2", "top_k: 2\n  threshold: 1.5"), "calibration.threshold", "(0, 1]"),
        (
            ("top_k: 2", "top_k: 2\n  profiles: {gpu: {levels: [{name: x}]}}"),
            "calibration.profiles.gpu.levels",
            "at least 2 levels",
        ),
    ],
)
def test_bad_calibration_sections_name_file_line_and_key(tmp_path, edit, where, message):
    f = write(tmp_path, CALIBRATION.replace(*edit))
    with pytest.raises(SweepError) as e:
        load_cal(f)
    text = str(e.value)
    lines = f.read_text().splitlines()
    key = where.split(".")[-1]
    line = int(text.split(":")[1])
    assert text.startswith(f"{f}:") and f": {where}: " in text and message in text, text
    assert key in lines[line - 1] or key.isdigit(), (text, lines[line - 1])


def test_bad_list_value_and_searched_recipe_field_are_refused(tmp_path):
    bands = [[0, 1], [0, 8], [3, 4], [2, 7], [7, 8], [1, 5], [4, 6], [5, 8], [0, 3], [6, 6]]
    listed = "\n".join(f"    - {{freq: {b}}}" for b in bands)
    f = write(tmp_path, CALIBRATION.replace("configs: 10", f"design: list\n  list:\n{listed}"))
    with pytest.raises(SweepError, match=r"calibration\.list\.9\.freq: expected a \[min, max\]"):
        load_cal(f)
    g = tmp_path / "searched.yaml"
    text = (
        write(tmp_path)
        .read_text()
        .replace(
            "targets: [freq1, freq2]}",
            "targets: [freq1, freq2]}\n  lr: {low: 0.001, high: 0.01, targets: [recipe.lr]}",
        )
        .replace("instances: 32}", "instances: 32, lr: 0.002}")
    )
    assert "recipe.lr" in text
    g.write_text(text)
    with pytest.raises(SweepError, match=r"levels\.1\.recipe\.lr: recipe\.lr is searched"):
        load_cal(g)


def test_cli_refuses_bad_input_on_one_line_and_writes_nothing(tmp_path, run_sweep):
    f = write(tmp_path, CALIBRATION.replace("configs: 10", "configs: 4"))
    for cmd in (["calibrate", str(f)], ["validate", str(f)]):
        res = run_sweep(*cmd, cwd=tmp_path)
        assert res.returncode == 2, res.stderr
        assert len(res.stderr.strip().splitlines()) == 1 and "calibration.configs" in res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.yaml"]  # nothing written


# ----------------------------------------------------------------------------- replicates
def test_engine_replicates_each_seed_and_fixed_trials(tmp_path):
    """Ordinary trials with seeds [0, 1, 2] run the proxy once per seed and store the mean (the
    value the sampler sees) and the spread; a trial enqueued with sweep:fixed runs its own
    recipe and seeds and is never pruned."""
    from proxy_tasks import run_trial
    from proxy_tasks.spec import TrialSpec
    from sweep.engine import Objective
    from sweep.record import FIXED as FIXED_ATTR
    from sweep.study_config import load_study_config

    spec = load_study_config(write(tmp_path, seeds="[0, 1, 2]"))
    objective = Objective(spec, "cpu", "cpu", str(tmp_path / "cache"))
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.MedianPruner(0, 0))
    study.enqueue_trial({"freq.min": 2, "freq.span": 0.4})
    fixed = {"recipe": {"instances": 32}, "seeds": [5], "attrs": {"calibration:level": "x"}}
    study.enqueue_trial({"freq.min": 2, "freq.span": 0.4}, user_attrs={FIXED_ATTR: fixed})
    study.optimize(objective, n_trials=2)
    plain, fixed = study.trials

    def direct(seed, **recipe):
        return run_trial(
            TrialSpec(
                generator="visualatom",
                params={**spec.generator_params("cpu"), "freq1": [2, 5], "freq2": [2, 5]},
                task="vit",
                profile="cpu",
                recipe={**spec.recipe("cpu"), **recipe},
                data_seed=seed,
                train_seed=seed,
                device="cpu",
                cache_dir=str(tmp_path / "cache"),
            )
        ).metrics

    runs = [direct(s) for s in (0, 1, 2)]
    assert plain.user_attrs["param:freq"] == [2, 5] and plain.user_attrs["seeds"] == [0, 1, 2]
    for key in ("headline", "pretrain_loss"):
        vals = [r[key] for r in runs]
        assert plain.user_attrs[key] == pytest.approx(np.mean(vals), abs=1e-9)
        assert plain.user_attrs[f"{key}_std"] == pytest.approx(np.std(vals, ddof=1), abs=1e-9)
    assert plain.value == plain.user_attrs["headline"]  # the sampler sees the mean
    assert len({r["pretrain_loss"] for r in runs}) == 3  # three distinct replicates
    assert plain.intermediate_values  # ordinary trials report to the pruner
    one = direct(5, instances=32)
    assert fixed.user_attrs["seeds"] == [5] and fixed.user_attrs["calibration:level"] == "x"
    assert fixed.user_attrs["dataset"]["instances"] == 32
    assert fixed.value == pytest.approx(one["headline"], abs=1e-9)
    assert fixed.user_attrs["pretrain_loss"] == pytest.approx(one["pretrain_loss"], abs=1e-9)
    assert "headline_std" not in fixed.user_attrs and not fixed.intermediate_values


# ----------------------------------------------------------------------------- a real calibration
@pytest.fixture(scope="module")
def calibrated(tmp_path_factory, run_sweep):
    """10 configurations x 2 levels x 2 seeds = 40 micro-ViT trials on 2 CPU workers."""
    tmp = tmp_path_factory.mktemp("calibration")
    f = write(tmp)
    res = run_sweep("calibrate", str(f), "--no-progress", cwd=tmp, timeout=600)
    return tmp, f, res


def test_tiny_real_calibration_runs_every_cell_once_with_its_level_and_seed(calibrated):
    tmp, f, res = calibrated
    assert res.returncode == 0, res.stderr[-3000:]
    assert "Traceback" not in res.stderr
    print(res.stdout)  # the tables and the verdict (pytest -s shows them)
    assert "verdict: " in res.stdout and "fidelity of each level" in res.stdout
    _, cals = load_cal(f)
    cal = cals["cpu"]
    study = open_study(tmp, "tinycal-calibration-cpu")
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 40  # nothing failed or doubled
    cells = {}
    for t in trials:
        a = t.user_attrs
        cell = (a["calibration:config"], a["calibration:level"], a["calibration:seed"])
        cells[cell] = t
        assert t.params == cal.configs[cell[0]]
        assert a["param:freq"] == cal.values[cell[0]]["freq"]
        assert a["seeds"] == [cell[2]]
        assert a["dataset"]["instances"] == {"cheap": 16, "dear": 32}[cell[1]]
        assert not t.intermediate_values  # calibration trials are never pruned (pruner: median)
    assert set(cells) == {
        (i, lv, s) for i in range(10) for lv in ("cheap", "dear") for s in (0, 1)
    }
    assert len({t.user_attrs["sweep:worker"] for t in trials}) == 2  # two workers in parallel
    # the same configuration and seed at the two levels: a different pre-training
    assert (
        cells[(0, "cheap", 0)].user_attrs["pretrain_loss"]
        != cells[(0, "dear", 0)].user_attrs["pretrain_loss"]
    )


def test_stored_analysis_matches_the_trials_and_gives_a_verdict(calibrated):
    from scipy import stats

    tmp, _, _ = calibrated
    study = open_study(tmp, "tinycal-calibration-cpu")
    s = study.user_attrs["sweep:calibration"]
    res = s["analysis"]
    assert res["levels"] == ["cheap", "dear"] and res["n_configs"] == 10 and res["n_seeds"] == 2
    means = {lv: np.zeros(10) for lv in ("cheap", "dear")}
    for t in study.get_trials():
        a = t.user_attrs
        means[a["calibration:level"]][a["calibration:config"]] += a["headline"] / 2
    assert res["per_level"][0]["mean"] == pytest.approx(list(means["cheap"]))
    row = res["vs_target"][0]
    rho = stats.spearmanr(means["cheap"], means["dear"]).statistic
    assert row["spearman"]["value"] == pytest.approx(0.0 if math.isnan(rho) else rho)
    lo, hi = row["spearman"]["ci"]
    assert -1 <= lo <= hi <= 1
    assert {b["baseline"] for b in res["baselines"]} == {"scratch", "pretrain_loss"}
    v = s["verdict"]
    assert v["target"] == "dear" and v["level"] in (None, "cheap") and v["status"] == "complete"
    if v["level"] is None:
        assert row["corrected"]["value"] is None or row["corrected"]["value"] < 0.8


def test_report_section_has_the_three_figures_and_the_verdict(calibrated):
    from reports.sections.calibration import report_section

    tmp, _, _ = calibrated
    section = report_section(open_study(tmp, "tinycal-calibration-cpu"))
    assert section is not None and "tinycal-calibration-cpu" in section["title"]
    heat, bump, bars = section["figures"]
    assert heat.data[0].type == "heatmap" and len(heat.data[0].z) == 2
    assert len(bump.data) == 10 and all(len(tr.y) == 2 for tr in bump.data)
    assert {tr.name.split(" (")[0] for tr in bars.data} >= {"seed noise"}
    for fig in section["figures"]:
        json.loads(fig.to_json())
    assert "verdict:" in section["html"] and "corrected" in section["html"]
    assert "<table" in section["html"] and "<script" not in section["html"]
    assert report_section(optuna.create_study()) is None  # not a calibration study


def test_analyze_only_and_rerun_are_idempotent(calibrated, run_sweep):
    tmp, f, _ = calibrated
    before = open_study(tmp, "tinycal-calibration-cpu").user_attrs["sweep:calibration"]
    res = run_sweep("calibrate", str(f), "--analyze-only", "--json", cwd=tmp)
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads(res.stdout)
    assert out["analysis"] == before["analysis"]  # the same bootstrap seed, the same numbers
    res = run_sweep("calibrate", str(f), "--no-progress", cwd=tmp, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert len(open_study(tmp, "tinycal-calibration-cpu").get_trials()) == 40  # nothing rerun


def test_changed_calibration_is_refused(calibrated, run_sweep):
    tmp, f, _ = calibrated
    g = tmp / "changed.yaml"
    g.write_text(f.read_text().replace("seeds: [0, 1]", "seeds: [0, 1, 2]"))
    res = run_sweep("calibrate", str(g), cwd=tmp)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1
    assert "calibration.study" in res.stderr
    assert len(open_study(tmp, "tinycal-calibration-cpu").get_trials()) == 40


def test_launch_below_the_trusted_level_warns_on_one_line(calibrated, run_sweep):
    tmp, f, _ = calibrated
    shutil.rmtree(tmp / "runs", ignore_errors=True)
    res = run_sweep("launch", str(f), "--trials", "1", "--no-progress", cwd=tmp, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    warnings = [
        ln
        for ln in res.stderr.splitlines()
        if ln.startswith("sweep: warning:") and "barely visible" not in ln
    ]  # (its 16-px band: the visibility warning)
    v = open_study(tmp, "tinycal-calibration-cpu").user_attrs["sweep:calibration"]["verdict"]
    if v["level"] == "cheap":  # the file's own recipe is the trusted level: nothing to say
        assert warnings == [], res.stderr
    else:  # "none": only the target level is trusted, and the file's recipe is below it
        assert len(warnings) == 1, res.stderr
        assert "level 'dear'" in warnings[0] and "tinycal-calibration-cpu" in warnings[0]
        assert "pretrain_epochs 4 < 8" in warnings[0] and "instances 16 < 32" in warnings[0]
    assert open_study(tmp, "tinycal").get_trials()[0].state == TrialState.COMPLETE
