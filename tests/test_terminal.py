"""What the terminal shows: the live bar at 80 and 200 columns, and the end of a launch at 80.

Issue 22, items 2 and 3: at 80 columns the bar was cut to the study name and counts (no x/N,
no ETA, no phase); the launch ended with the answer line alone (its warnings and next steps
only in ``--json`` and the report), and its best-trials table led with a lucky single seed.
The bar is rendered by rich to a fixed width (``Progress(width=...)``); the launch runs as a
user runs it, ``python -m sweep launch`` with ``COLUMNS=80``, on the analytic task.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys

import optuna
import pytest
from spaces import ANALYTIC_SPACE

from sweep.engine.progress import Progress
from sweep.study_config import load_study_config

#: real launches, workers or trainings: the full suite only (the fast tier: -m "not slow")
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def launched(tmp_path_factory):
    """An analytic study with a confirmation, launched at 80 columns (stdout a pipe)."""
    where = tmp_path_factory.mktemp("terminal")
    f = where / "term.yaml"
    text = ANALYTIC_SPACE.format(study="a-rather-long-study-name-for-the-bar", trials=10)
    text = text.replace("profile: cpu}", "profile: cpu, options: {noise: 0.5}}")
    f.write_text(text + "storage: studies.db\nconfirm: {top: 2, seeds: 3, max_seeds: 6}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "sweep", "launch", str(f), "--no-progress", "--device", "cpu"],
        cwd=where,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "80"},
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return where, f, proc


def _bar(where, f, width: int) -> str:
    spec = load_study_config(f)
    study = optuna.load_study(study_name=spec.study, storage=spec.storage)
    buf = io.StringIO()
    with Progress(True, study, 10, spec, live=True, stream=buf, width=width):
        pass
    return buf.getvalue()


def test_the_bar_shows_count_eta_and_phase_first_at_80_columns(launched, monkeypatch):
    where, f, _ = launched
    monkeypatch.chdir(where)
    narrow = _bar(where, f, 80)
    line = narrow.strip().splitlines()[-1]
    assert len(line) <= 80, line
    assert line.startswith("10/10 "), line  # the count first
    assert "0:00:00" in line and " search " in line, line  # the ETA and the phase
    wide = _bar(where, f, 200).strip().splitlines()[-1]
    assert len(wide) <= 200
    # At 200 columns everything fits: counts, the search's best (labelled), the study's name.
    assert "done " in wide and "(search)" in wide, wide
    assert "a-rather-long-study-name-for-the-bar" in wide, wide
    assert "a-rather-long-study-name-for-the-bar" not in line  # cut first at 80


def test_the_launch_ends_with_the_whole_answer_at_80_columns(launched):
    _, _, proc = launched
    lines = proc.stdout.rstrip("\n").splitlines()
    assert all(len(x) <= 80 for x in lines), [x for x in lines if len(x) > 80]
    # The table leads with the arms the answer compared on common seeds, then single trials.
    rows = [x for x in lines if x.startswith("│")]
    arms = [r.split("│")[2].strip() for r in rows]
    assert arms[0] in ("best", "winner"), arms
    assert "published" in arms and arms.index("published") < arms.index("search trial"), arms
    assert rows[0].split("│")[3].strip() == "6" or int(rows[0].split("│")[3]) >= 3
    # The answer, then its warnings and next steps, indented; nothing else after it.
    at = max(i for i, x in enumerate(lines) if x.startswith("answer: "))
    tail = lines[at + 1 :]
    assert tail and all(x.startswith("  ") for x in tail), tail
    assert any(x.startswith("  next: ") for x in tail), tail


def test_an_answer_is_provisional_in_every_output_while_its_confirmation_runs(launched):
    # Issue 22, item 2: during the confirmation `status` printed an interim answer with
    # nothing saying it was not the answer yet.
    from reports.answer import answer_info
    from sweep import record
    from sweep.engine.commands import status, status_text

    where, f, _ = launched
    spec = load_study_config(where / f.name)
    storage = str(where / "studies.db")
    study = optuna.load_study(study_name=spec.study, storage=f"sqlite:///{storage}")
    plan = dict(study.user_attrs[record.STUDY_CONFIRM])
    assert plan["status"] in ("decided", "capped")
    final = status(spec.study, storage)
    assert not final["answer_line"].startswith("provisional")
    from reports.answer import markdown

    assert markdown(answer_info(study))[0].startswith("**Answer: ")
    try:
        study.set_user_attr(record.STUDY_CONFIRM, {**plan, "status": "running"})
        st = status(spec.study, storage)
        assert st["answer_line"].startswith("provisional (the confirmation is running, ")
        assert st["answer"]["provisional"] and st["answer_stored"] is False
        assert (
            status_text(spec.study, storage).splitlines()[-1].startswith("answer: provisional (")
        )
        info = answer_info(study)
        assert info["source"] == "computed" and info["line"].startswith("provisional ("), info
        # the dashboard note opens with it too
        assert markdown(info)[0].startswith("**Provisional answer: "), markdown(info)[0]
    finally:
        study.set_user_attr(record.STUDY_CONFIRM, plan)
