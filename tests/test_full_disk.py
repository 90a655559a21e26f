"""A disk that fills up mid-study (issue 14, item 5), on a real (small tmpfs) filesystem.

The launch ends with ONE line (no traceback, no Optuna warning from its workers), exit status 2;
every trial completed before is kept unchanged, and ``sweep resume`` completes the budget once
there is space again (a journal's torn last record is set aside on the way, and said)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from spaces import ANALYTIC_SPACE

from sweep import record
from sweep.storage import make_storage

#: real launches, workers or trainings: the full suite only (the fast tier: -m "not slow")
pytestmark = pytest.mark.slow

BUDGET = 40


def sweep(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "sweep", *args, "--no-progress"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture
def small_disk(tmp_path):
    """A 24 MiB tmpfs (root and mount rights needed, else the test skips)."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    res = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mnt)], capture_output=True
    )
    if res.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root and mount rights)")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def fill(mnt: Path, leave: int) -> Path:
    """A file taking all the free space of ``mnt`` but ``leave`` bytes."""
    st = os.statvfs(mnt)
    filler = mnt / "filler"
    with filler.open("wb") as f:
        left = st.f_bavail * st.f_frsize - leave
        block = b"\0" * (1 << 20)
        while left > 0:
            n = f.write(block[: min(left, len(block))])
            left -= n
    return filler


def completed(url: str) -> dict[int, float]:
    study = optuna.load_study(study_name="fd", storage=make_storage(url, heartbeat=False))
    return {t.number: t.value for t in study.get_trials() if t.state.name == "COMPLETE"}


@pytest.mark.parametrize("name", ["studies.log", "studies.db"])
def test_a_full_disk_is_one_line_and_resume_completes_the_study(tmp_path, small_disk, name):
    url = str(small_disk / name)
    space = tmp_path / "fd.yaml"
    space.write_text(
        ANALYTIC_SPACE.format(study="fd", trials=2) + f"confirm: false\nstorage: {url}\n"
    )
    first = sweep("launch", str(space), cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    filler = fill(small_disk, leave=64 * 1024)
    full = sweep("launch", str(space), "--trials", str(BUDGET), cwd=tmp_path)
    lines = full.stderr.strip().splitlines()
    assert full.returncode == 2, full.stderr[-3000:]
    assert "Traceback" not in full.stderr and all(x.startswith("sweep: ") for x in lines), lines
    assert lines[-1].startswith("sweep: error: the disk is full"), lines
    assert "'sweep resume fd'" in lines[-1]
    filler.unlink()  # (a torn journal is repaired on opening, which needs a little space)
    before = completed(url)
    assert len(before) < BUDGET + 1  # it did stop early
    resumed = sweep("resume", "fd", "--storage", url, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    after = completed(url)
    assert all(after.get(n) == v for n, v in before.items())  # kept, unchanged
    study = optuna.load_study(study_name="fd", storage=make_storage(url, heartbeat=False))
    assert record.used_search_budget(study.get_trials()) == BUDGET
    assert not [t for t in study.get_trials() if t.state.name in ("RUNNING", "WAITING")]


def test_a_full_disk_in_an_optuna_thread_is_one_line_for_the_launcher(capfd):
    # Seen in CI: the heartbeat thread's commit hit the full disk first, and Python printed its
    # traceback (29 lines) before the worker's own write failed.
    import queue
    import sqlite3
    import threading

    from sweep.engine.local import storage_quiet_hook

    failures: queue.Queue = queue.Queue()
    old, threading.excepthook = threading.excepthook, threading.__excepthook__  # (not pytest's)
    threading.excepthook = storage_quiet_hook(failures)
    try:

        def heartbeat():
            try:
                raise sqlite3.OperationalError("database or disk is full")
            except sqlite3.OperationalError as e:
                raise RuntimeError("An exception is raised during the commit.") from e

        t = threading.Thread(target=heartbeat)
        t.start()
        t.join()
        other = threading.Thread(target=lambda: 1 / 0)  # not the storage: printed as usual
        other.start()
        other.join()
    finally:
        threading.excepthook = old
    err = capfd.readouterr().err
    assert "disk is full" in failures.get_nowait() and failures.empty()
    assert "OperationalError" not in err and "ZeroDivisionError" in err
