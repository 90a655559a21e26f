"""Study storages on SQLite and on a real PostgreSQL server (``storage_url`` runs each test on
both; PostgreSQL comes from SWEEP_TEST_POSTGRES, which .ci/run sets): real Optuna RDB storages,
real worker processes, real dead pids. Passwords in URLs never reach any output."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from spaces import ANALYTIC_SPACE

#: real launches, workers or trainings: the full suite only (the fast tier: -m "not slow")
pytestmark = pytest.mark.slow

SPACE = ANALYTIC_SPACE


def write(tmp_path: Path, study: str = "st", trials: int = 4) -> Path:
    f = tmp_path / f"{study}.yaml"
    f.write_text(SPACE.format(study=study, trials=trials))
    return f


def load(url: str, study: str = "st"):
    from sweep.storage import make_storage

    return optuna.load_study(study_name=study, storage=make_storage(url, heartbeat=False))


def sweep(capfd, *args) -> tuple[int, str, str]:
    """The CLI in this process (its worker processes write to the same file descriptors)."""
    from sweep.cli import main

    capfd.readouterr()
    code = main(list(args))
    out, err = capfd.readouterr()
    return code, out, err


def test_storage_opens_with_heartbeats_and_keeps_a_study(storage_url):
    from sweep.storage import make_storage

    st = make_storage(storage_url)
    assert isinstance(st, optuna.storages.RDBStorage) and st.get_heartbeat_interval() == 10
    assert st.get_heartbeat_stale_trial_callback() is not None  # one retry of a dead trial
    study = optuna.create_study(study_name="kept", storage=st, direction="maximize")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    again = optuna.load_study(study_name="kept", storage=make_storage(storage_url))
    assert [t.state for t in again.trials] == [TrialState.COMPLETE] * 3
    assert again.best_value == study.best_value


def test_two_local_workers_share_the_storage(storage_url, tmp_path):
    from sweep.engine import run

    out = run(
        str(write(tmp_path, trials=6)),
        storage=storage_url,
        device="cpu",
        progress=False,
        quiet=True,
        cache_dir=None,
    )
    assert out["counts"]["COMPLETE"] == 6
    trials = load(storage_url).trials
    assert len({t.user_attrs["sweep:worker"] for t in trials}) == 2
    assert all(t.value == t.user_attrs["headline"] for t in trials)
    assert len({t.number for t in trials}) == 6  # no trial taken twice


def test_a_dead_workers_trial_is_failed_retried_once_and_completed(storage_url, tmp_path):
    """A RUNNING trial whose worker (a real process on this host) is gone: the next launch fails
    it, enqueues one retry with the same parameters, and completes the budget with it."""
    from sweep.engine import run
    from sweep.record import WORKER as WORKER_ATTR

    space = write(tmp_path, trials=3)
    run(
        str(space),
        storage=storage_url,
        trials=1,
        device="cpu",
        progress=False,
        quiet=True,
        cache_dir=None,
    )
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a pid that existed and is gone
    study = load(storage_url)
    orphan = study.ask(
        {
            "freq.min": optuna.distributions.IntDistribution(0, 19),
            "freq.span": optuna.distributions.FloatDistribution(0, 1),
        }
    )
    orphan.set_user_attr(WORKER_ATTR, f"{socket.gethostname()}:{dead.pid}")
    out = run(
        str(space), storage=storage_url, device="cpu", progress=False, quiet=True, cache_dir=None
    )
    trials = load(storage_url).trials
    failed = trials[orphan.number]
    assert failed.state == TrialState.FAIL
    assert failed.user_attrs["error"] == "worker died mid-trial"
    (retry,) = [t for t in trials if t.user_attrs.get("sweep:retry_of") == orphan.number]
    assert retry.state == TrialState.COMPLETE and retry.params == failed.params
    assert out["counts"] == {"COMPLETE": 3, "PRUNED": 0, "FAIL": 1, "RUNNING": 0, "WAITING": 0}


def test_postgres_password_is_never_printed_or_stored(postgres_url, tmp_path, capfd):
    from sqlalchemy.engine import make_url

    password = make_url(postgres_url).password
    assert password
    space = write(tmp_path, study="secret", trials=2)
    outputs = []
    for args in (
        ("launch", str(space), "--storage", postgres_url, "--no-progress"),
        ("status", "secret", "--storage", postgres_url),
        ("status", "--storage", postgres_url),
        ("ls", "studies", "--storage", postgres_url),
        ("export", "secret", "--storage", postgres_url, "-o", str(tmp_path / "exp")),
        ("status", "nosuch", "--storage", postgres_url),
    ):
        code, out, err = sweep(capfd, *args)
        outputs.append(out + err)
        assert code == (2 if "nosuch" in args else 0), err[-2000:]
    assert "***" in outputs[0] and "***" in outputs[-1]  # the URL is shown, masked
    exported = (tmp_path / "exp" / "trials.json").read_text()
    assert json.loads(exported)["user_attrs"]["sweep:config"]["storage"].count("***") == 1
    for text in (*outputs, exported, (tmp_path / "exp" / "trials.csv").read_text()):
        assert password not in text
    # A wrong password and an unreachable server: one line, exit 2, the password masked.
    wrong = postgres_url.replace(f":{password}@", ":wrong-pw-123@")
    closed = postgres_url.replace("@127.0.0.1:", "@127.0.0.1:1").split("?")[0]
    for url, pw in ((wrong, "wrong-pw-123"), (closed, password)):
        code, out, err = sweep(capfd, "status", "secret", "--storage", url)
        assert code == 2 and len(err.strip().splitlines()) == 1, err
        assert pw not in err + out and "***" in err


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql+psycopg://u:pw1@host:notaport/db", "not a valid PostgreSQL URL"),
        ("postgresql+psycopg://u:pw1@/db", "name the host and the database"),
        ("mysql://u:pw1@host/db", "mysql is not supported"),
    ],
)
def test_bad_postgres_urls_are_refused_in_one_line(tmp_path, capfd, url, message):
    code, out, err = sweep(capfd, "launch", str(write(tmp_path)), "--storage", url)
    assert code == 2 and message in err, err
    assert len(err.strip().splitlines()) == 1 and "pw1" not in err + out


def test_a_password_in_the_files_storage_key_is_not_stored(postgres_url, tmp_path, capfd):
    # Issue 14, item 6: the study attribute with the file's text, sweep export's trials.json
    # and optuna-dashboard's API all showed a password written in the file's storage: key.
    from sqlalchemy.engine import make_url

    password = make_url(postgres_url).password
    space = write(tmp_path, study="infile", trials=1)
    space.write_text(space.read_text() + f"storage: {postgres_url}\n")
    code, _, err = sweep(capfd, "launch", str(space), "--no-progress")
    assert code == 0, err[-2000:]
    study = load(postgres_url, "infile")
    text = study.user_attrs["sweep:file_text"]
    assert password not in json.dumps(study.user_attrs) and ":***@" in text
    code, _, err = sweep(
        capfd, "export", "infile", "--storage", postgres_url, "-o", str(tmp_path / "exp")
    )
    assert code == 0 and password not in (tmp_path / "exp" / "trials.json").read_text()


def test_the_dashboard_puts_no_password_on_a_command_line(postgres_url, tmp_path, capfd):
    # Issue 14, item 7: optuna-dashboard was started with the URL on its command line.
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    from sqlalchemy.engine import make_url

    password = make_url(postgres_url).password
    code, _, err = sweep(
        capfd,
        "launch",
        str(write(tmp_path, study="dash", trials=1)),
        "--storage",
        postgres_url,
        "--no-progress",
    )
    assert code == 0, err[-2000:]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**__import__("os").environ, "SWEEP_STORAGE": postgres_url}  # no secret in argv
    proc = subprocess.Popen(
        [sys.executable, "-m", "sweep", "dashboard", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        for _ in range(150):
            time.sleep(0.2)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies") as r:
                    studies = json.loads(r.read())["study_summaries"]
                break
            except OSError:
                continue
        else:
            raise AssertionError("the dashboard did not answer")
        assert [s["study_name"] for s in studies] == ["dash"]
        cmdlines = []
        for p in Path("/proc").iterdir():  # every process on the machine, children included
            try:
                cmdlines.append((p / "cmdline").read_bytes().decode(errors="replace"))
            except OSError:
                continue
        assert not [c for c in cmdlines if password in c]
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert password not in err and proc.returncode == 0, err[-2000:]


@pytest.mark.parametrize("port", ["99999", "-1", "0"])
def test_dashboard_refuses_a_bad_port_on_one_line(tmp_path, capfd, port):
    code, _, err = sweep(capfd, "dashboard", str(tmp_path / "x.db"), "--port", port)
    assert code == 2 and err.startswith("sweep: error: --port") and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_dashboard_of_a_missing_file_or_a_busy_port_is_one_line(tmp_path, capfd):
    import socket

    code, _, err = sweep(capfd, "dashboard", str(tmp_path / "missing.db"))
    assert code == 2 and "no storage at" in err and err.count("\n") == 1
    assert list(tmp_path.iterdir()) == []  # nothing created
    optuna.create_study(study_name="x", storage=f"sqlite:///{tmp_path / 'x.db'}")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        busy = s.getsockname()[1]
        code, _, err = sweep(capfd, "dashboard", str(tmp_path / "x.db"), "--port", str(busy))
    assert code == 2 and "not free" in err and err.count("\n") == 1
