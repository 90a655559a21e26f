"""Shared fixtures: run the ``sweep`` CLI as a subprocess, and snapshot directory trees."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest


def _run_sweep(*args: str, cwd: Path, timeout: float = 120, **env: str):
    """``python -m sweep ARGS`` in ``cwd``; returns the CompletedProcess (text mode)."""
    full_env = {**os.environ, "COLUMNS": "300", **env}
    return subprocess.run(
        [sys.executable, "-m", "sweep", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
    )


def _tree_bytes(root: Path) -> dict[str, bytes]:
    """Every regular file under ``root`` (hidden ones included): relative path -> bytes."""
    root = Path(root)
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _tree_stat(root: Path) -> dict[str, tuple[int, int, int]]:
    """Every entry under ``root``: relative path -> (inode, size, mtime_ns); root included."""
    root = Path(root)
    out = {}
    for p in [root, *root.rglob("*")]:
        st = p.stat()
        out[p.relative_to(root).as_posix()] = (st.st_ino, st.st_size, st.st_mtime_ns)
    return out


class _Dashboard:
    """A running ``sweep dashboard``: its port, ``get(path)`` for its JSON API, and after the
    ``with`` block its ``returncode`` and ``stderr``."""

    def __init__(self, port: int) -> None:
        self.port, self.returncode, self.stderr = port, None, ""

    def get(self, path: str):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}") as r:
            return json.loads(r.read())


@contextlib.contextmanager
def _dashboard(storage: Path, cwd: Path, tries: int = 150):
    """Start ``sweep dashboard STORAGE`` on a free port, wait until ``/api/studies`` answers,
    and stop it (SIGTERM) when the block ends."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "sweep", "dashboard", str(storage), "--port", str(port)],
        cwd=cwd,
        stdin=subprocess.DEVNULL,  # (under pytest-xdist, stdin is the worker's channel)
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    dash = _Dashboard(port)
    try:
        for _ in range(tries):
            time.sleep(0.2)
            try:
                dash.get("/api/studies")
                break
            except OSError:
                continue
        else:
            raise AssertionError("the dashboard did not answer")
        yield dash
    finally:
        proc.terminate()
        _, dash.stderr = proc.communicate(timeout=120)  # (a loaded machine stops it slowly)
        dash.returncode = proc.returncode


@pytest.fixture(scope="session")
def dashboard():
    return _dashboard


@pytest.fixture(scope="session")
def run_sweep():
    return _run_sweep


@pytest.fixture(scope="session")
def tree_bytes():
    return _tree_bytes


@pytest.fixture(scope="session")
def tree_stat():
    return _tree_stat


# ----------------------------------------------------------------------------- PostgreSQL
def _postgres_base() -> str:
    """SWEEP_TEST_POSTGRES (.ci/run starts a server and sets it): skip without it, except
    under SWEEP_CI=1, where a missing or unreachable server fails the test."""
    url = os.environ.get("SWEEP_TEST_POSTGRES", "").strip()
    if not url:
        msg = (
            "SWEEP_TEST_POSTGRES is not set (postgresql+psycopg://user:pw@127.0.0.1:5432/db; "
            ".ci/run starts a server and sets it)"
        )
        if os.environ.get("SWEEP_CI") == "1":
            pytest.fail(f"SWEEP_CI=1 but {msg}")
        pytest.skip(msg)
    return url


@contextlib.contextmanager
def _fresh_schemas(n: int):
    """``n`` URLs on the suite's PostgreSQL whose tables live in fresh, empty schemas
    (``search_path``), dropped afterwards."""
    import uuid

    import sqlalchemy as sa

    from sweep.storage import mask_url

    base = _postgres_base()
    tag = uuid.uuid4().hex[:12]
    schemas = [f"sweep_t_{tag}_{i}" for i in range(n)]
    engine = sa.create_engine(base, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as con:
            for schema in schemas:
                con.execute(sa.text(f"CREATE SCHEMA {schema}"))
    except Exception as e:
        engine.dispose()
        msg = f"PostgreSQL at {mask_url(base)} is unreachable: {type(e).__name__}"
        if os.environ.get("SWEEP_CI") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    try:
        yield [f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{s}" for s in schemas]
    finally:
        with engine.begin() as con:
            for schema in schemas:
                con.execute(sa.text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        engine.dispose()


@pytest.fixture
def postgres_url():
    """A PostgreSQL storage URL whose tables live in a fresh schema (``search_path``), dropped
    afterwards: every test gets an empty database, whatever its study names."""
    with _fresh_schemas(1) as urls:
        yield urls[0]


@pytest.fixture
def postgres_schemas():
    """``make(n)``: ``n`` fresh, empty PostgreSQL schemas as storage URLs, dropped afterwards."""
    with contextlib.ExitStack() as stack:
        yield lambda n: stack.enter_context(_fresh_schemas(n))


@pytest.fixture(params=["sqlite", "postgresql"])
def storage_url(request, tmp_path):
    """Each test using it runs twice: on a SQLite file and on PostgreSQL (a fresh schema)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'studies.db'}"
    return request.getfixturevalue("postgres_url")
