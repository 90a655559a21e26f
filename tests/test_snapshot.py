"""A trial runs the study's stored snapshot of its file, never the live file.

Issue 21, item 1: workers re-read the YAML by path, so widening a study's range three seconds
into its launch made later trials (and the published arm, and the confirmation) run the new
range. Every worker (:func:`sweep.engine.backend.worker_config`) and the launcher
(``sweep.engine.launch``) now parse the text the study stored when it was created
(:func:`sweep.study_config.snapshot_config`). The tests edit the file while a real launcher runs
(``python -m sweep launch``, analytic trials slowed by the hook of ``test_budget_claims``).
"""

from __future__ import annotations

import time

import optuna
import pytest
from spaces import ANALYTIC_SPACE
from test_budget_claims import finish, launch, load, write_study

from sweep import record

#: real launches, workers or trainings: the full suite only (the fast tier: -m "not slow")
pytestmark = pytest.mark.slow


def _wait_for_complete(tmp_path, storage: str, n: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            study = load(tmp_path, storage)
        except KeyError:  # not created yet
            time.sleep(0.2)
            continue
        done = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
        if len(done) >= n:
            return
        time.sleep(0.2)
    raise AssertionError(f"fewer than {n} trials completed in {timeout} s")


def test_a_file_edited_during_a_launch_changes_nothing_that_runs(tmp_path):
    space = write_study(tmp_path, "studies.db", 8)
    text = space.read_text().replace("confirm: false\n", "")
    text += "confirm: {top: 1, seeds: 2, max_seeds: 2}\n"
    text = text.replace("profile: cpu}", "profile: cpu, options: {noise: 0.5}}")
    space.write_text(text)
    proc = launch(tmp_path, str(space), "--workers", "1")
    _wait_for_complete(tmp_path, "studies.db", 2)
    # Widen the band to [0, 400] and change what a trial measures, mid-launch.
    space.write_text(
        text.replace("high: 20", "high: 400").replace("noise: 0.5", "noise: 0.5, effect: 0")
    )
    ((rc, _, err),) = finish([proc])
    assert rc == 0, err[-3000:]
    study = load(tmp_path, "studies.db")
    trials = study.get_trials(deepcopy=False)
    assert any(record.arm_of(t.user_attrs) == record.ARM_CONFIRM for t in trials), (
        "the confirmation did not run"
    )
    for t in trials:
        lo, hi = t.user_attrs["param:freq"]
        assert 0 <= lo < hi <= 20, (t.number, t.params, record.arm_of(t.user_attrs))
    # The stored file is the one the study was created with, and the answer judges it.
    assert study.user_attrs[record.STUDY_FILE_TEXT] == text
    answer = study.user_attrs[record.STUDY_ANSWER]
    assert "400" not in str(answer.get("published")), answer.get("published")


def test_workers_refuse_a_snapshot_that_no_longer_gives_the_study_hash(tmp_path):
    """The stored hash is checked against the snapshot each worker parses."""
    from sweep.study_config import load_study_config, snapshot_config

    f = tmp_path / "s.yaml"
    f.write_text(ANALYTIC_SPACE.format(study="s", trials=2) + "storage: s.db\n")
    spec = load_study_config(f)
    attrs = {
        record.STUDY_FILE_TEXT: spec.text,
        record.STUDY_FILE: str(f),
        record.STUDY_HASH: spec.space_hash("cpu"),
    }
    f.write_text("garbage: [")  # the live file is never read again
    got = snapshot_config(attrs, "s", spec.storage, profile="cpu")
    assert got.space_hash("cpu") == spec.space_hash("cpu") and got.text == spec.text
    attrs[record.STUDY_HASH] = "0" * 16
    with pytest.raises(Exception, match="search-space hash"):
        snapshot_config(attrs, "s", spec.storage, profile="cpu")
