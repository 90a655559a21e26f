"""Conformance of every registered proxy task to :class:`proxy_tasks.spec.ProxyTask`.

Parametrized over ``proxy_tasks.PROXY_TASKS``: registering a task puts it under these tests with
no other change. Every task runs a tiny recipe on the CPU (seconds).
"""

from __future__ import annotations

import json
import math

import pytest

from proxy_tasks import PROXY_TASKS, run_trial
from proxy_tasks.spec import COMPLETE, FAILED, PRUNED, ProxyTask, Pruned, TrialResult, TrialSpec

#: real launches, workers or trainings: the full suite only (the fast tier: -m "not slow")
pytestmark = pytest.mark.slow

NAMES = PROXY_TASKS.names()
# The tiny recipe of tests/test_proxy.py: every stage of the real one, in seconds.
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


def tiny_spec(task: str, tmp_path, **kw) -> TrialSpec:
    return TrialSpec(
        task=task,
        profile="cpu",
        device="cpu",
        recipe=dict(TINY),
        cache_dir=str(tmp_path / "cache"),
        **kw,
    )


def check_shape(result: TrialResult) -> None:
    assert isinstance(result, TrialResult)
    assert result.status in (COMPLETE, FAILED, PRUNED)
    assert isinstance(result.metrics, dict) and isinstance(result.info, dict)
    for key, value in result.metrics.items():
        assert isinstance(key, str)
        assert isinstance(value, int | float), (key, value)  # flat and numeric (bool included)
    json.dumps(result.as_dict())  # what the engine and `sweep trial` store and print


def test_the_registry_is_not_empty_and_every_entry_is_a_proxy_task():
    assert NAMES
    for name in NAMES:
        task = PROXY_TASKS.get(name)()
        assert isinstance(task, ProxyTask) and task.name == name


@pytest.mark.parametrize("name", NAMES)
def test_a_complete_trial_has_flat_numeric_metrics_and_a_headline(name, tmp_path):
    calls = []
    result = run_trial(tiny_spec(name, tmp_path), lambda *a: calls.append(a))
    check_shape(result)
    assert result.status == COMPLETE, result.message
    assert result.error_type is None
    headline = result.metrics["headline"]
    assert isinstance(headline, float) and math.isfinite(headline)
    for metric, step, value in calls:  # the report callback: (name, step, value)
        assert isinstance(metric, str) and isinstance(step, int) and math.isfinite(value)


@pytest.mark.parametrize("name", NAMES)
def test_a_bad_configuration_is_a_failed_trial_with_a_reason(name, tmp_path):
    result = run_trial(tiny_spec(name, tmp_path, params={"no_such_param": 1}))
    check_shape(result)
    assert result.status == FAILED and result.error_type == "config"
    assert "no_such_param" in result.message and "\n" not in result.message
    assert "headline" not in result.metrics


@pytest.mark.parametrize("name", NAMES)
def test_a_report_callback_that_raises_pruned_prunes_the_trial(name, tmp_path):
    def report(metric, step, value):
        raise Pruned(f"stop at {metric} {step}")

    result = run_trial(tiny_spec(name, tmp_path), report)
    check_shape(result)
    assert result.status == PRUNED and result.message.startswith("stop at ")


@pytest.mark.parametrize("name", NAMES)
def test_optunas_trial_pruned_prunes_the_trial_too(name, tmp_path):
    optuna = pytest.importorskip("optuna")

    def report(metric, step, value):
        raise optuna.TrialPruned("pruned by optuna")

    result = run_trial(tiny_spec(name, tmp_path), report)
    check_shape(result)
    assert result.status == PRUNED and result.message == "pruned by optuna"
