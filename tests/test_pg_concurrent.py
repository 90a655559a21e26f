"""Several processes opening one fresh database at the same moment (the workers of a launcher,
two launchers): every one of them gets a storage and a study.

Optuna's ``RDBStorage`` creates its tables on first use (``metadata.create_all``: look, then
``CREATE TYPE``/``CREATE TABLE``; then a ``version_info`` row and an alembic stamp). Unserialized,
two processes both look, both create, and one fails: on PostgreSQL ``UniqueViolation`` on
``pg_type`` or ``relation "studies" already exists`` (7 of 8 processes in every round without
the fix), on SQLite ``table studies already exists``, a duplicate alembic stamp or ``database
is locked``. ``sweep.storage.make_storage`` serializes the creation on PostgreSQL with an
advisory lock and retries an open that lost a creation race (all a SQLite file opened outside
the launcher's pop lock has, and the fallback for processes that take no lock).

The processes start once (imports are slow) and then run several rounds, each on a storage
whose tables do not exist yet (a fresh PostgreSQL schema through ``search_path``; a new SQLite
file), all released at once by a file lock the test holds. PostgreSQL comes from
``SWEEP_TEST_POSTGRES`` (``.ci/run`` starts a server; skipped without one locally, a failure
under ``SWEEP_CI=1``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

#: real launches, workers or trainings: the full suite only (the fast tier: -m "not slow")
pytestmark = pytest.mark.slow

PROCESSES = 8
ROUNDS = 4
DEADLINE_S = 120.0  # a hung child fails the test instead of hanging it


@pytest.fixture
def fresh_schemas(postgres_schemas):
    """``ROUNDS`` empty schemas on the suite's PostgreSQL (dropped afterwards), as URLs."""
    return postgres_schemas(ROUNDS)


@pytest.fixture(params=["postgresql", "sqlite"])
def fresh_stores(request, tmp_path):
    """``ROUNDS`` storages without tables: PostgreSQL schemas, or SQLite files not yet made."""
    if request.param == "postgresql":
        return request.getfixturevalue("fresh_schemas")
    return [f"sqlite:///{tmp_path / f'store{r}.db'}" for r in range(ROUNDS)]


def _wait_for(paths: list[Path], procs: list[subprocess.Popen], what: str) -> None:
    """Until every process ``i`` has written ``paths[i]``; fails on one that died without."""
    deadline = time.monotonic() + DEADLINE_S
    while not all(p.exists() for p in paths):
        # poll() before exists(): a process that wrote its file and then exited is not dead
        dead = [
            p for p, f in zip(procs, paths, strict=True) if p.poll() is not None and not f.exists()
        ]
        if dead or time.monotonic() > deadline:
            out = "\n".join((p.communicate(timeout=5)[1] or "")[-2000:] for p in dead)
            pytest.fail(f"waiting for {what}: a worker process died or hung\n{out}")
        time.sleep(0.02)


def test_processes_opening_a_fresh_database_at_once_all_succeed(fresh_stores, tmp_path):
    import fcntl

    import optuna

    from sweep.storage import make_storage

    gates = [tmp_path / f"gate.{r}" for r in range(ROUNDS)]
    held = []
    for gate in gates:  # the test holds every round's gate; releasing one starts that round
        fh = open(gate, "w")
        fcntl.flock(fh, fcntl.LOCK_EX)
        held.append(fh)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, str(tmp_path), str(i), *fresh_stores],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(PROCESSES)
    ]
    failures: list[str] = []
    try:
        _wait_for([tmp_path / f"ready.{i}" for i in range(PROCESSES)], procs, "the imports")
        for r, fh in enumerate(held):
            time.sleep(0.2)  # every worker is blocked on this round's gate
            fh.close()  # all of them wake at once
            results = [tmp_path / f"result.{r}.{i}" for i in range(PROCESSES)]
            _wait_for(results, procs, f"round {r}")
            failures += [f"round {r}: {p.read_text()}" for p in results if p.read_text() != "ok"]
    finally:
        for fh in held:
            fh.close()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    kinds = sorted({f.split(": cannot open: ")[-1] for f in failures})
    assert not failures, (
        f"{len(failures)} of {PROCESSES * ROUNDS} opens failed, in "
        f"{len({f.split(':')[0] for f in failures})} of {ROUNDS} rounds:\n" + "\n".join(kinds)
    )
    for url in fresh_stores:  # every process got the same study and wrote its trial to it
        storage = make_storage(url, heartbeat=False, create=False)
        try:
            study = optuna.load_study(study_name="race", storage=storage)
            assert len(study.trials) == PROCESSES
        finally:
            storage.engine.dispose()


def test_a_process_waits_for_the_creator_and_then_says_so_in_one_line(fresh_schemas, monkeypatch):
    """While another session holds the creation lock, an open of a fresh database waits; past
    the limit it is one line that names the lock, not a traceback."""
    import sqlalchemy as sa

    import sweep.storage as storage
    from sweep.errors import SweepError

    url = fresh_schemas[0]
    monkeypatch.setattr(storage, "PG_CREATE_LOCK_TIMEOUT_S", 1)
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as con:
            con.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": storage.PG_CREATE_LOCK_KEY})
            with pytest.raises(SweepError) as err:
                storage.make_storage(url)
        message = str(err.value)
        assert "\n" not in message and "advisory lock" in message and "ci-secret" not in message
        opened = storage.make_storage(url)  # the lock is gone with its session
        opened.engine.dispose()
    finally:
        engine.dispose()


def test_a_creation_race_with_a_process_that_takes_no_lock_is_retried(fresh_schemas, monkeypatch):
    """Plain Optuna or optuna-dashboard creating the tables at the same moment takes no lock:
    the error that race raises is retried once; any other error is not."""
    import optuna
    import sqlalchemy as sa

    from sweep.errors import SweepError
    from sweep.storage import make_storage

    real = optuna.storages.RDBStorage
    calls: list[str] = []

    def racing(url, *args, **kwargs):
        calls.append(url)
        if len(calls) == 1:
            real(url, *args, **kwargs).engine.dispose()  # "the other process" creates them
            raise sa.exc.ProgrammingError(
                "CREATE TABLE studies", {}, Exception('relation "studies" already exists')
            )
        return real(url, *args, **kwargs)

    monkeypatch.setattr(optuna.storages, "RDBStorage", racing)
    make_storage(fresh_schemas[1]).engine.dispose()
    assert len(calls) == 2

    def broken(url, *args, **kwargs):
        calls.append(url)
        raise sa.exc.OperationalError("SELECT 1", {}, Exception("server closed the connection"))

    calls.clear()
    monkeypatch.setattr(optuna.storages, "RDBStorage", broken)
    with pytest.raises(SweepError, match="server closed the connection"):
        make_storage(fresh_schemas[2])
    assert len(calls) == 1


def _worker(tmp: Path, index: int, urls: list[str]) -> None:
    """One process: imports first (then says ready), then per round: wait at the gate, open the
    fresh schema through ``make_storage``, create or load the study, write one trial."""
    import fcntl

    import optuna

    from sweep.storage import make_storage

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.simplefilter("ignore")  # "heartbeat is supposed to be used with Study.optimize"
    (tmp / f"ready.{index}").write_text("")
    for r, url in enumerate(urls):
        with open(tmp / f"gate.{r}") as gate:
            fcntl.flock(gate, fcntl.LOCK_SH)  # blocks until the test releases the round
        storage = None
        try:
            storage = make_storage(url)
            study = optuna.create_study(study_name="race", storage=storage, load_if_exists=True)
            trial = study.ask()
            study.tell(trial, float(index))
            result = "ok"
        except BaseException as e:  # the test reports whatever broke
            first = (str(e).strip().splitlines() or [""])[0]
            result = f"{type(e).__module__}.{type(e).__name__}: {first}"
        finally:
            if storage is not None and hasattr(storage, "engine"):
                storage.engine.dispose()
        (tmp / f"result.{r}.{index}.tmp").write_text(result)
        os.replace(tmp / f"result.{r}.{index}.tmp", tmp / f"result.{r}.{index}")


if __name__ == "__main__":
    _worker(Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3:])
