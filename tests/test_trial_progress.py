"""What a running trial is doing (issue 14, item 17): its phase and epoch, kept in the storage by
its worker (``sweep:progress``), shown by the launcher's live bar and by ``sweep status``."""

from __future__ import annotations

import argparse
import io

import optuna
import pytest

from sweep import record
from sweep.engine.commands import status, status_lines
from sweep.engine.objective import Shown
from sweep.engine.progress import Progress, running_text
from sweep.engine.signals import NoInterrupt

#: real launches, workers or trainings: the full suite only (the fast tier: -m "not slow")
pytestmark = pytest.mark.slow


@pytest.fixture
def running(tmp_path):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    url = f"sqlite:///{tmp_path / 's.db'}"
    study = optuna.create_study(study_name="s", storage=url, direction="maximize")
    return url, study, study.ask()


def stored(study, number: int):
    return study.get_trials(deepcopy=False)[number].user_attrs.get(record.PROGRESS)


def test_a_running_trial_stores_its_phase_and_epoch(running, monkeypatch):
    url, study, trial = running
    shown = Shown(trial, 2, NoInterrupt())
    monkeypatch.setattr(record, "PROGRESS_EVERY_S", 1e9)  # only changes of phase are written
    shown(0, "phase/generate", 0, 0.0)
    assert stored(study, 0) == {"seed": 0, "seeds": 2, "phase": "generate", "step": 0, "of": 0}
    shown(0, "phase/pretrain", 0, 20.0)
    shown(0, "pretrain_loss", 1, 2.5)  # same phase, within the interval: not written
    assert stored(study, 0)["phase"] == "pretrain" and stored(study, 0)["step"] == 0
    shown(0, "finetune_loss", 1, 2.5)  # not a phase or the pre-training: ignored
    monkeypatch.setattr(record, "PROGRESS_EVERY_S", 0.0)  # every report is written
    shown(0, "pretrain_loss", 12, 2.0)
    assert stored(study, 0) == {"seed": 0, "seeds": 2, "phase": "pretrain", "step": 12, "of": 20}
    shown(1, "phase/evaluate", 1, 2.0)
    assert record.progress_text(stored(study, 0)) == "evaluate 1/2, seed 2/2"
    assert running_text(study) == "#0 evaluate 1/2, seed 2/2"
    # sweep status says it beside the running trial, and --json carries it
    st = status("s", url)
    assert st["running"][0]["progress"]["phase"] == "evaluate"
    line = next(x for x in status_lines(st) if x.startswith("running: trial 0"))
    assert line.endswith("(evaluate 1/2, seed 2/2)"), line
    shown.done()  # the trial has run: nothing left to show
    assert stored(study, 0) is None and running_text(study) == ""


def test_the_live_bar_shows_what_each_running_trial_does(running):
    _, study, trial = running
    Shown(trial, 1, NoInterrupt())(0, "phase/pretrain", 0, 20.0)
    others = [study.ask() for _ in range(3)]
    for t in others:
        Shown(t, 1, NoInterrupt())(0, "phase/evaluate", 1, 2.0)
    spec = argparse.Namespace(objectives=[("headline", "maximize")])
    with Progress(True, study, 8, spec, stream=io.StringIO(), live=True) as bar:
        bar.update()
        info = bar.p.tasks[0].fields["info"]
    assert "run 4" in info
    assert "#0 pretrain 0/20; #1 evaluate 1/2; #2 evaluate 1/2 (+1 more)" in info
    # a plain log (no terminal) gets one line per finished trial, not per epoch
    out = io.StringIO()
    with Progress(True, study, 8, spec, stream=out) as bar:
        Shown(trial, 1, NoInterrupt())(0, "pretrain_loss", 5, 1.0)
        bar.update()
    assert len(out.getvalue().splitlines()) == 1  # the first line; an epoch adds none
