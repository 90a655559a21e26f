"""The ViT proxy task end to end on the CPU, on real embedded downstream data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from proxy_tasks import run_trial
from proxy_tasks.recipe import PRESETS, make_recipe
from proxy_tasks.spec import Pruned, TrialSpec
from sweep.errors import SweepError

#: real launches, workers or trainings: the full suite only (the fast tier: -m "not slow")
pytestmark = pytest.mark.slow

# A tiny recipe: seconds per trial, still every stage of the real one.
TINY = dict(
    classes=8,
    instances=16,
    img_size=16,
    patch_size=4,
    embed_dim=32,
    depth=1,
    downstreams=("digits",),
    num_heads=2,
    pretrain_epochs=3,
    batch_size=32,
    finetune_epochs=2,
    finetune_batch=64,
    probe_epochs=20,
    downstream_train=300,
    downstream_test=200,
)
ROOT = Path(__file__).resolve().parents[1]


def tiny_spec(tmp_path, **kw) -> TrialSpec:
    recipe = {**TINY, **kw.pop("recipe", {})}
    return TrialSpec(
        profile="cpu", device="cpu", recipe=recipe, cache_dir=str(tmp_path / "cache"), **kw
    )


def _strip_times(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if not k.startswith("time_") and "per_s" not in k}


def test_cpu_preset_trial_end_to_end(tmp_path):
    # The real `cpu` preset on real digits: every stage, every metric, the callback per epoch.
    calls = []
    spec = TrialSpec(profile="cpu", device="cpu", cache_dir=str(tmp_path / "cache"))
    result = run_trial(spec, lambda name, step, value: calls.append((name, step, value)))
    assert result.status == "complete", result.message
    m = result.metrics
    r = make_recipe("cpu")
    measured = ("knn", "linear", "linear_soft") + (("finetune",) if r.finetune_epochs else ())
    for ds in r.downstreams:
        for key in measured:
            assert 10.0 * 1.5 < m[f"{ds}/{key}"] <= 100.0  # 10 classes: well above chance
            assert f"{ds}/scratch_{key}" in m
            assert m[f"{ds}/gain_{key}"] == pytest.approx(
                m[f"{ds}/{key}"] - m[f"{ds}/scratch_{key}"]
            )
    assert m["headline"] == m[f"{r.headline}_mean"]
    assert [c[1] for c in calls if c[0] == "pretrain_loss"] == list(
        range(1, r.pretrain_epochs + 1)
    )
    losses = [c for c in calls if not c[0].startswith("phase/")]
    assert all(c[2] == c[2] and c[2] > 0 for c in losses)  # finite, positive losses
    # Its phases, announced as they start (what the launcher's bar and `sweep status` show).
    phases = [(c[0], c[1], c[2]) for c in calls if c[0].startswith("phase/")]
    assert phases == [
        ("phase/generate", 0, 0.0),
        ("phase/pretrain", 0, r.pretrain_epochs),
        *[("phase/evaluate", i + 1, len(r.downstreams)) for i in range(len(r.downstreams))],
    ]
    first = [c[0] for c in calls].index
    assert first("phase/pretrain") < first("pretrain_loss") < first("phase/evaluate")
    for key in ("generate_s", "pretrain_s", "evaluate_s", "total_s"):
        assert m[f"time_{key}"] >= 0
    assert result.info["dataset"]["classes"] == r.classes
    assert result.info["recipe"]["pretrain_epochs"] == r.pretrain_epochs


def test_same_seeds_give_identical_metrics_and_seeds_are_separate(tmp_path):
    a = run_trial(tiny_spec(tmp_path, data_seed=1, train_seed=2))
    b = run_trial(tiny_spec(tmp_path / "other", data_seed=1, train_seed=2))
    assert a.status == b.status == "complete"
    assert _strip_times(a.metrics) == _strip_times(b.metrics)
    c = run_trial(tiny_spec(tmp_path, data_seed=1, train_seed=3))
    d = run_trial(tiny_spec(tmp_path, data_seed=4, train_seed=2))
    assert c.metrics["pretrain_loss"] != a.metrics["pretrain_loss"]
    assert d.info["dataset"]["fingerprint"] != a.info["dataset"]["fingerprint"]
    assert c.info["dataset"]["fingerprint"] == a.info["dataset"]["fingerprint"]


def test_scratch_baseline_is_cached_per_downstream_recipe_and_seed(tmp_path):
    first = run_trial(tiny_spec(tmp_path))
    files = list((tmp_path / "cache" / "scratch").glob("*.json"))
    assert len(files) == 1
    second = run_trial(tiny_spec(tmp_path, params={"freq1": [0, 3], "freq2": [0, 3]}))
    assert list((tmp_path / "cache" / "scratch").glob("*.json")) == files
    assert second.metrics["digits/scratch_finetune"] == first.metrics["digits/scratch_finetune"]
    assert second.metrics["time_scratch_s"] < first.metrics["time_scratch_s"]
    run_trial(tiny_spec(tmp_path, train_seed=5))  # another seed: another baseline
    assert len(list((tmp_path / "cache" / "scratch").glob("*.json"))) == 2


def test_no_fine_tuning_a_weight_average_and_the_soft_probe(tmp_path):
    plain = {"finetune_epochs": 0, "headline": "linear"}
    a = run_trial(tiny_spec(tmp_path, recipe=plain))
    assert a.status == "complete", a.message
    m = a.metrics
    assert "digits/finetune" not in m and "finetune_mean" not in m  # no fine-tuning at all
    assert m["headline"] == m["linear_mean"] and 0 < m["linear_soft_mean"] <= 100
    soft_gain = m["linear_soft_mean"] - m["digits/scratch_linear_soft"]
    assert m["gain_linear_soft_mean"] == pytest.approx(soft_gain)
    # A weight average: the same trajectory (the same losses), other end weights.
    b = run_trial(tiny_spec(tmp_path, recipe={**plain, "ema": 0.9}))
    assert b.status == "complete" and b.metrics["pretrain_loss"] == m["pretrain_loss"]
    assert b.metrics["linear_soft_mean"] != m["linear_soft_mean"]
    with pytest.raises(SweepError, match="finetune_epochs: must be positive when the headline"):
        make_recipe("cpu", {"finetune_epochs": 0, "headline": "finetune"})
    with pytest.raises(SweepError, match=r"recipe.ema: must be in \[0, 1\)"):
        make_recipe("cpu", {"ema": 1.0})


def test_divergence_is_a_failed_trial_with_a_reason(tmp_path):
    result = run_trial(tiny_spec(tmp_path, recipe={"lr": 1e30}))
    assert result.status == "failed" and result.error_type == "diverged"
    assert "loss became" in result.message


def test_out_of_memory_is_a_failed_trial_with_a_reason(tmp_path):
    # A model far larger than any machine: the allocation fails at once.
    result = run_trial(tiny_spec(tmp_path, recipe={"embed_dim": 2**21, "num_heads": 1}))
    assert result.status == "failed" and result.error_type == "out_of_memory"
    assert "batch_size" in result.message


def test_missing_downstream_root_is_a_failed_trial_that_says_how_to_fix_it(tmp_path):
    result = run_trial(tiny_spec(tmp_path, recipe={"downstreams": ["cifar10"]}))
    assert result.status == "failed" and result.error_type == "data"
    assert "cifar10" in result.message and "root" in result.message


def test_a_report_callback_can_prune(tmp_path):
    def report(name, step, value):
        if step == 2:
            raise Pruned("loss too high")

    result = run_trial(tiny_spec(tmp_path), report)
    assert result.status == "pruned" and result.message == "loss too high"


def test_presets_are_valid_and_gpu_is_vit_tiny_at_64px():
    assert set(PRESETS) == {"cpu", "gpu"}
    gpu = make_recipe("gpu")
    assert (gpu.embed_dim, gpu.depth, gpu.num_heads, gpu.img_size) == (192, 12, 3, 64)
    assert gpu.classes * gpu.instances >= 100 * 100
    cpu = make_recipe("cpu")
    # The laptop tier: VisualAtom's frequency band is visible at 48 px (sweep.visibility), with
    # 16 tokens as cheap as 16 px with 4-px patches; the headline is the linear probe.
    assert (cpu.img_size, (cpu.img_size // cpu.patch_size) ** 2) == (48, 16)
    assert cpu.embed_dim < 192 and cpu.headline == "linear"
    with pytest.raises(SweepError, match="did you mean 'pretrain_epochs'"):
        make_recipe("cpu", {"pretrain_epoch": 3})
    with pytest.raises(SweepError, match=r"recipe\.patch_size: 5 does not divide"):
        make_recipe("cpu", {"patch_size": 5})
    with pytest.raises(SweepError, match="unknown profile 'gpx'"):
        make_recipe("gpx")


# ----------------------------------------------------------------------------- sweep trial
def _sweep(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "sweep", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _tiny_sets():
    def yaml(v):
        return f"[{','.join(v)}]" if isinstance(v, tuple) else v

    return [x for k, v in TINY.items() for x in ("--set", f"recipe.{k}={yaml(v)}")]


def test_sweep_trial_prints_metrics_json_and_replicate_summary(tmp_path):
    res = _sweep(
        "trial",
        str(ROOT / "search_spaces" / "freq.yaml"),
        "--profile",
        "cpu",
        "--seeds",
        "0,1",
        "--set",
        "freq1=[0,3]",
        "--set",
        "freq2=[0,3]",
        *_tiny_sets(),
        cwd=tmp_path,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads(res.stdout)
    assert out["status"] == "complete" and out["seeds"] == [0, 1]
    runs = [r["metrics"]["headline"] for r in out["replicates"]]
    assert out["summary"]["headline"]["mean"] == pytest.approx(sum(runs) / 2)
    assert out["summary"]["headline"]["std"] == pytest.approx(abs(runs[0] - runs[1]) / 2**0.5)
    spec = out["replicates"][1]["info"]["spec"]
    assert spec["params"]["freq1"] == [0, 3] and spec["train_seed"] == spec["data_seed"] == 1
    assert "pretrain_loss epoch 1" in res.stderr  # per-epoch progress on stderr


def test_sweep_trial_failed_trial_exits_1_with_status(tmp_path):
    res = _sweep(
        "trial",
        str(ROOT / "search_spaces" / "freq.yaml"),
        "--profile",
        "cpu",
        *_tiny_sets(),
        "--set",
        "recipe.downstreams=[cifar10]",
        cwd=tmp_path,
    )
    assert res.returncode == 1
    out = json.loads(res.stdout)
    assert out["status"] == "failed" and out["error_type"] == "data"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (
            "generator:\n  name: visualatom\nproxi: {}\n",
            r":3: proxi: unknown key \(did you mean 'proxy'\?\)",
        ),
        ("generator:\n  name: visualatm\n", r":2: generator.name: unknown generator 'visualatm'"),
        (
            "generator:\n  name: visualatom\n  params:\n    freq1: [5, 2]\n",
            r":4: generator.params.freq1: min 5 > max 2",
        ),
        (
            "generator:\n  name: visualatom\nproxy:\n  recipe:\n    pretrain_epochs: -1\n",
            r":5: proxy.recipe.pretrain_epochs: must be positive",
        ),
        ("generator: [\n", r":2: invalid YAML"),
        ("proxy: {}\n", r":1: missing key 'generator'"),
    ],
)
def test_sweep_trial_rejects_bad_files_with_file_line_and_key(tmp_path, text, match):
    f = tmp_path / "space.yaml"
    f.write_text(text)
    res = _sweep("trial", str(f), "--profile", "cpu", cwd=tmp_path)
    assert res.returncode == 2 and res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sweep: error: ")
    import re

    assert re.search(match, lines[0]), lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["space.yaml"]  # nothing written


def test_sweep_trial_rejects_unknown_set_keys(tmp_path):
    res = _sweep(
        "trial",
        str(ROOT / "search_spaces" / "freq.yaml"),
        "--profile",
        "cpu",
        "--set",
        "pretrain_epoch=3",
        cwd=tmp_path,
    )
    assert res.returncode == 2 and "did you mean 'pretrain_epochs'" in res.stderr


@pytest.mark.gpu
@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a CUDA device")
def test_gpu_trial_bf16_compiled_on_cuda(tmp_path):
    # The gpu preset's downstreams, a small model trained long enough to be well above chance.
    recipe = {
        **TINY,
        "precision": "bf16",
        "compile": True,
        "img_size": 32,
        "patch_size": 8,
        "embed_dim": 64,
        "depth": 2,
        "finetune_epochs": 10,
        "finetune_lr": 2e-3,
        "downstream_train": 1000,
        "downstream_test": 500,
    }
    result = run_trial(
        TrialSpec(profile="gpu", device="cuda", recipe=recipe, cache_dir=str(tmp_path / "cache"))
    )
    assert result.status == "complete", result.message
    m = result.metrics
    chance = {"mnist5k": 10.0, "textures": 100 / 16}
    for name in make_recipe("gpu").downstreams:
        assert m[f"{name}/finetune"] > 1.5 * chance[name], (name, m[f"{name}/finetune"])
    assert m["gpu_peak_mem_gib"] < 10
    assert m["pretrain_compiled"] and m["finetune_compiled"]
