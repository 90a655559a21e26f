"""Storages that a kill, a full disk or a typo damaged: journals with a torn record, URLs missing
their slashes. Each test fails without its fix (issue 14, items 3, 5 and 11)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

from sweep.errors import SweepError
from sweep.journal import repair_journal, scan
from sweep.storage import make_storage, normalize_storage

#: real launches, workers or trainings: the full suite only (the fast tier: -m "not slow")
pytestmark = pytest.mark.slow

TINY = """\
study: tiny
generator: {{name: visualatom}}
search:
  freq: {{type: int_range, low: 0, high: 8, min_width: 1, targets: [freq1, freq2]}}
proxy: {{task: analytic, profile: cpu}}
budget: {{trials: {trials}, workers: 1}}
confirm: false
storage: {storage}
"""


def sweep(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "sweep", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


def journal_study(tmp_path: Path, trials: int = 3) -> Path:
    """A finished study of ``trials`` analytic trials in a journal file, written by optuna."""
    path = tmp_path / "studies.log"
    study = optuna.create_study(
        study_name="j", storage=make_storage(str(path)), direction="maximize"
    )
    for i in range(trials):
        t = study.ask()
        t.suggest_int("x", 0, 10)
        t.set_user_attr("headline", float(i))
        study.tell(t, float(i))
    return path


def complete(path: Path) -> list[float]:
    st = make_storage(str(path), heartbeat=False)
    study = optuna.load_study(study_name="j", storage=st)
    return [t.value for t in study.get_trials() if t.state.name == "COMPLETE"]


def test_a_torn_last_record_is_set_aside_and_the_study_reads(tmp_path, capsys):
    path = journal_study(tmp_path)
    whole = path.read_bytes()
    torn = b'{"op_code":4,"worker_id":"w","trial_id":3,"par'  # an append cut by a kill
    path.write_bytes(whole + torn)
    note = repair_journal(path)
    assert note and "kept" in note and "torn-1" in note
    assert path.read_bytes() == whole  # every whole record kept, byte for byte
    assert (tmp_path / "studies.log.torn-1").read_bytes() == torn  # the fragment, not deleted
    assert complete(path) == [0.0, 1.0, 2.0]
    assert repair_journal(path) is None  # now whole: nothing to do


def test_appends_glued_onto_a_torn_record_are_kept(tmp_path):
    # The state a resume used to leave: a torn record, then whole records appended after it,
    # the first of them glued to the fragment. Optuna's reader then fails on every read.
    from optuna.storages.journal import JournalFileBackend

    path = journal_study(tmp_path, trials=2)
    whole = path.read_bytes()
    lines = whole.splitlines(keepends=True)
    torn = lines[-1][: len(lines[-1]) // 2]  # the last record cut in half
    glued = torn + lines[-1]  # the same record, appended again by the next run
    path.write_bytes(b"".join(lines[:-1]) + glued + lines[-1])
    with pytest.raises(ValueError):  # what status, export and resume ended in
        list(JournalFileBackend(str(path)).read_logs(0))
    path.write_bytes(b"".join(lines[:-1]) + glued)
    kept, aside, n = scan(path.read_bytes())
    assert aside == torn and kept == whole and n == len(lines)
    assert repair_journal(path) is not None
    assert complete(path) == [0.0, 1.0]


def test_a_file_of_random_bytes_is_not_a_journal(tmp_path):
    path = tmp_path / "junk.log"
    blob = bytes(range(256)) * 8
    path.write_bytes(blob)
    with pytest.raises(SweepError, match="not an Optuna journal file"):
        make_storage(str(path))
    assert path.read_bytes() == blob  # nothing changed


def test_status_and_resume_of_a_torn_journal_study(tmp_path):
    space = tmp_path / "tiny.yaml"
    space.write_text(TINY.format(trials=3, storage=tmp_path / "studies.log"))
    res = sweep("launch", str(space), "--no-progress", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    log = tmp_path / "studies.log"
    log.write_bytes(log.read_bytes() + b'{"op_code":5,"worker_id":"x","tri')  # a kill mid-append
    res = sweep("status", "tiny", "--storage", str(log), cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    warn = [x for x in res.stderr.splitlines() if x.startswith("sweep: warning:")]
    assert len(warn) == 1 and "torn" in warn[0] and "Traceback" not in res.stderr
    space.write_text(TINY.format(trials=5, storage=log))
    res = sweep("launch", str(space), "--no-progress", cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    study = optuna.load_study(study_name="tiny", storage=make_storage(str(log), heartbeat=False))
    assert sum(t.state.name == "COMPLETE" for t in study.get_trials()) >= 5
    assert all(json.loads(x) for x in log.read_bytes().splitlines())  # the file is whole again


@pytest.mark.parametrize("url", ["sqlite:/runs/x.db", "sqlite:runs/x.db", "journal:x.log"])
def test_a_url_missing_its_slashes_is_an_error_and_creates_nothing(tmp_path, url):
    with pytest.raises(SweepError, match="is not a valid URL"):
        normalize_storage(url, label="--storage")
    res = sweep("status", "tiny", "--storage", url, cwd=tmp_path)
    assert res.returncode == 2 and "not a valid URL" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []  # no directory named "sqlite:"


def test_reading_a_missing_storage_creates_nothing(tmp_path):
    with pytest.raises(SweepError, match="no storage at"):
        make_storage(str(tmp_path / "runs" / "studies.db"), create=False)
    assert list(tmp_path.iterdir()) == []


def test_a_damaged_sqlite_file_is_one_line_not_a_traceback(tmp_path):
    # A valid header and schema, corrupt data pages: opening works, a query fails (Optuna
    # wraps the error in a StorageInternalError; it used to end in a traceback).
    import sqlite3

    db = tmp_path / "studies.db"
    study = optuna.create_study(study_name="j", storage=make_storage(str(db), heartbeat=False))
    for i in range(20):
        t = study.ask()
        t.set_user_attr("note", "x" * 500)
        study.tell(t, float(i))
    del study
    con = sqlite3.connect(db)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # every page in the main file
    con.close()
    data = bytearray(db.read_bytes())
    n = len(data) // 4096
    for page in range(n - 6, n):  # the last pages' cell pointers, not the schema
        data[page * 4096 + 12 : page * 4096 + 40] = b"\xff" * 28
    db.write_bytes(bytes(data))
    for cmd in (["status", "j"], ["export", "j", "-o", str(tmp_path / "out")]):
        res = sweep(*cmd, "--storage", str(db), cwd=tmp_path)
        assert res.returncode == 2, (cmd, res.stderr[-1500:])
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("sweep: error:"), res.stderr[-1500:]
        assert "damaged" in lines[0] or "malformed" in lines[0] or "not a database" in lines[0]


def test_a_database_server_that_went_away_is_not_called_damaged():
    # Seen on the cluster test (issue 23): a PostgreSQL restart mid-study was reported as "the
    # study database is damaged ... sqlite3 FILE '.recover'". A real refused connection (a
    # closed port on the loopback) through SQLAlchemy and psycopg, as Optuna's storage meets it.
    import sqlalchemy

    from sweep.storage import describe_failure

    engine = sqlalchemy.create_engine("postgresql+psycopg://u:secret@127.0.0.1:9/db")
    with pytest.raises(sqlalchemy.exc.OperationalError) as e:
        engine.connect()
    why = describe_failure(e.value)
    assert why is not None and "could not be reached" in why and "damaged" not in why, why
    assert "sqlite3" not in why and "secret" not in why and "sweep resume" in why


READ_ONLY = [
    ["status", "tiny"],
    ["status"],
    ["export", "tiny"],
    ["stop", "tiny"],
    ["resume", "tiny"],
    ["ls", "studies"],
]


@pytest.mark.parametrize("cmd", READ_ONLY)
def test_read_only_commands_of_a_missing_storage_create_nothing(tmp_path, cmd):
    res = sweep(*cmd, cwd=tmp_path)  # the default storage, runs/studies.db, does not exist
    assert res.returncode == 2, res.stderr
    assert res.stderr.startswith("sweep: error: no storage at") and "runs/studies.db" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []  # no runs/, no studies.db


@pytest.mark.parametrize("name", ["../../../escaped", "a" * 600, "..", "x/y"])
def test_one_rule_for_study_names_wherever_they_enter(tmp_path, name):
    # Issue 14, item 8: --fork ../../../escaped, then sweep export, wrote outside the working
    # directory; a 600-character name was a PostgreSQL traceback.
    space = tmp_path / "tiny.yaml"
    space.write_text(TINY.format(trials=1, storage=tmp_path / "studies.db"))
    res = sweep("launch", str(space), "--fork", name, "--no-progress", cwd=tmp_path)
    assert res.returncode == 2 and res.stderr.startswith("sweep: error: --fork:"), res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == [space]  # refused before the storage was opened
    res = sweep("export", name, "--storage", str(tmp_path / "studies.db"), cwd=tmp_path)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1
    space.write_text(
        TINY.format(trials=1, storage=tmp_path / "studies.db").replace(
            "study: tiny", f"study: '{name}'"
        )
    )
    res = sweep("validate", str(space), cwd=tmp_path)
    assert res.returncode == 2 and "tiny.yaml:1: study:" in res.stderr, res.stderr
    assert not (tmp_path.parent / "escaped").exists() and not (tmp_path / "runs").exists()


# ------------------------------------------------------------------------- read-only filesystems
def _read_only_mount(src: Path, dst: Path) -> bool:
    """Bind-mount ``src`` read-only at ``dst`` (a real read-only filesystem); False when this
    machine does not allow it (not root, no mount namespace rights)."""
    dst.mkdir()
    ok = subprocess.run(["mount", "--bind", str(src), str(dst)], capture_output=True).returncode
    if ok != 0:
        return False
    if (
        subprocess.run(
            ["mount", "-o", "remount,bind,ro", str(dst)], capture_output=True
        ).returncode
        != 0
    ):
        subprocess.run(["umount", str(dst)], capture_output=True)
        return False
    return True


@pytest.mark.parametrize("name", ["x.db", "x.log"])
def test_a_study_on_a_read_only_filesystem_can_be_read(tmp_path, name):
    src = tmp_path / "src"
    src.mkdir()
    url = str(src / name)
    code = (
        "import optuna; from sweep.storage import make_storage; "
        f"s = optuna.create_study(study_name='ro', storage=make_storage({url!r})); "
        "s.optimize(lambda t: t.suggest_float('x', 0, 1), n_trials=3)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)  # closed
    before = sorted(p.name for p in src.iterdir())
    ro = tmp_path / "ro"
    if not _read_only_mount(src, ro):
        pytest.skip("cannot bind-mount read-only here (needs root and mount rights)")
    try:
        url = str(ro / name)
        out = tmp_path / "out"
        status = sweep("status", "ro", "--storage", url, cwd=tmp_path)
        assert status.returncode == 0, status.stderr
        assert "complete 3" in status.stdout
        export = sweep("export", "ro", "--storage", url, "-o", str(out), cwd=tmp_path)
        assert export.returncode == 0, export.stderr
        assert len(json.loads((out / "trials.json").read_text())) == 3
        report = sweep(
            "report",
            "ro",
            "--storage",
            url,
            "-o",
            str(out / "r.html"),
            "--no-dashboard",
            cwd=tmp_path,
        )
        assert report.returncode == 0, report.stderr
        assert (out / "r.html").stat().st_size > 0
    finally:
        subprocess.run(["umount", str(ro)], capture_output=True)
    assert sorted(p.name for p in src.iterdir()) == before  # nothing was written there
