"""Shared fixtures: run the ``sweep`` CLI as a subprocess, and snapshot directory trees."""

from __future__ import annotations

import os
import subprocess
import sys
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


@pytest.fixture(scope="session")
def run_sweep():
    return _run_sweep


@pytest.fixture(scope="session")
def tree_bytes():
    return _tree_bytes


@pytest.fixture(scope="session")
def tree_stat():
    return _tree_stat
