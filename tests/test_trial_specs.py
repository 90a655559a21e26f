"""What a trial runs (sweep.trial.trial_specs): the one resolver every path calls.

The engine's objective, ``sweep trial`` and the rebuild of a stored trial's dataset all go
through it; these tests pin its routing (family, searched values, fixed values, ``--set`` keys,
a fixed cell's recipe and data seed) and that ``sweep trial`` runs what it says.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from proxy_tasks.spec import dataset_spec
from sweep import record
from sweep.dataset import Dataset
from sweep.study_config import load_study_config
from sweep.trial import trial_specs

ROOT = Path(__file__).resolve().parents[1]

FILE = """\
study: specs
generator:
  name: visualatom
  params: {{orbits: [1, 10]}}
search:
  freq: {{type: int_range, low: 0, high: 20, min_width: 1, targets: [freq1, freq2]}}
  epochs: {{type: int, low: 1, high: 3, targets: [recipe.pretrain_epochs]}}
proxy: {{task: {task}, profile: cpu, recipe: {{classes: 3}}}}
seeds: [0, 1]
{more}"""


def _config(tmp_path: Path, task: str = "analytic", more: str = ""):
    f = tmp_path / "specs.yaml"
    f.write_text(FILE.format(task=task, more=more))
    return load_study_config(f), f


def test_searched_values_fixed_values_and_the_recipe_are_routed_once(tmp_path):
    config, _ = _config(tmp_path)
    specs = trial_specs(config, "cpu", {"freq": [3, 9], "epochs": 2}, seeds=[0, 5])
    assert [s.train_seed for s in specs] == [0, 5] and [s.data_seed for s in specs] == [0, 5]
    one = specs[0]
    assert one.generator == "visualatom" and one.task == "analytic" and one.profile == "cpu"
    assert dict(one.params) == {"orbits": [1, 10], "freq1": [3, 9], "freq2": [3, 9]}
    assert dict(one.recipe) == {"classes": 3, "pretrain_epochs": 2}
    # A parameter left out keeps its fixed value (here: none, the generator's default).
    (bare,) = trial_specs(config, "cpu", {}, seeds=[0])
    assert dict(bare.params) == {"orbits": [1, 10]} and dict(bare.recipe) == {"classes": 3}


def test_a_fixed_cell_runs_its_own_recipe_and_data_seed(tmp_path):
    config, _ = _config(tmp_path)
    fixed = {record.FIXED_RECIPE: {"instances": 7}, record.FIXED_DATA_SEED: 11}
    specs = trial_specs(config, "cpu", {"freq": [0, 20]}, seeds=[2, 3], fixed=fixed)
    assert [s.data_seed for s in specs] == [11, 11] and [s.train_seed for s in specs] == [2, 3]
    assert dict(specs[0].recipe) == {"classes": 3, "instances": 7}


@pytest.mark.parametrize("data_seed", [None, 7])
def test_the_file_s_data_seed_draws_every_replicate_s_dataset(tmp_path, data_seed):
    more = f"data_seed: {data_seed}\n" if data_seed is not None else ""
    config, _ = _config(tmp_path, more=more)
    specs = trial_specs(config, "cpu", {"freq": [1, 2]}, seeds=[4, 5])
    want = [data_seed, data_seed] if data_seed is not None else [4, 5]
    assert [s.data_seed for s in specs] == want
    # sweep trial --data-seed overrides it for every seed.
    specs = trial_specs(config, "cpu", {"freq": [1, 2]}, seeds=[4, 5], data_seed=9)
    assert [s.data_seed for s in specs] == [9, 9]


def test_set_keys_go_to_the_generator_or_the_recipe(tmp_path):
    config, _ = _config(tmp_path)
    (s,) = trial_specs(
        config, "cpu", {}, seeds=[0], overrides={"vertices": [200, 400], "batch_size": 8}
    )
    assert dict(s.params) == {"orbits": [1, 10], "vertices": [200, 400]}
    assert dict(s.recipe) == {"classes": 3, "batch_size": 8}
    with pytest.raises(Exception, match="not a parameter of generator 'visualatom'"):
        trial_specs(config, "cpu", {}, seeds=[0], overrides={"nosuch": 1})


def test_each_task_defines_the_dataset_its_trial_pre_trains_on(tmp_path):
    config, _ = _config(tmp_path)
    (a,) = trial_specs(config, "cpu", {"freq": [3, 9], "epochs": 2}, seeds=[4])
    ds = dataset_spec(a)
    assert (ds.classes, ds.instances, ds.image_size, ds.seed) == (1, 1, 64, 4)
    vit, _ = _config(tmp_path, task="vit")
    (v,) = trial_specs(vit, "cpu", {"freq": [3, 9], "epochs": 2}, seeds=[4])
    ds = dataset_spec(v)
    assert (ds.generator, ds.classes, ds.seed, ds.epochs) == ("visualatom", 3, 4, 1)
    assert ds.params == {"orbits": [1, 10], "freq1": [3, 9], "freq2": [3, 9]}
    (fresh,) = trial_specs(vit, "cpu", {"epochs": 3}, seeds=[4], overrides={"fresh_data": True})
    assert dataset_spec(fresh).epochs == 3  # one block per pre-training epoch


@pytest.mark.parametrize("data_seed", [None, 7])
def test_sweep_trial_runs_the_resolved_spec(tmp_path, data_seed):
    more = f"data_seed: {data_seed}\n" if data_seed is not None else ""
    config, f = _config(tmp_path, more=more)
    proc = subprocess.run(
        [sys.executable, "-m", "sweep", "trial", str(f), "--seed", "5"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    (want,) = trial_specs(config, "cpu", {}, seeds=[5])
    assert got["info"][record.DATASET]["fingerprint"] == Dataset(dataset_spec(want)).fingerprint
    assert got["info"][record.DATASET]["seed"] == (5 if data_seed is None else data_seed)
