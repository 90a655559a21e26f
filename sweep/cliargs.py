"""Argument types shared by the commands: counts checked while the arguments are parsed, before
torch, Optuna or a storage is touched.

Imports: the standard library, :mod:`sweep.backends` (the ``--backend`` choices),
:mod:`sweep.limits`, :mod:`sweep.errors`, :mod:`sweep.values`; yaml inside
:func:`parse_overrides`.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from sweep.backends import BACKENDS
from sweep.errors import SweepError
from sweep.limits import MAX_WORKERS
from sweep.values import cli_number


def count_arg(flag: str, most: int, what: str, least: int = 1, why: str = "per launch"):
    """An argparse ``type``: a whole number from ``least`` to ``most``; anything else is one
    line naming ``flag`` (``sweep: error: --trials: ...``), exit status 2."""

    def parse(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected a whole number of {what} from {least} to {most:,}, got '{text}'"
            ) from None
        if n < least:
            raise argparse.ArgumentTypeError(f"expected {least} to {most:,} {what}, got {n}")
        if n > most:
            raise argparse.ArgumentTypeError(f"at most {most:,} {what} {why}, got {n:,}")
        return n

    parse.__name__ = flag  # argparse names the type in some of its own messages
    return parse


def parse_overrides(items: Sequence[str] | None) -> dict[str, Any]:
    """``["noise=[0,2]", "orbits=1,50", "amplitude=0.25"]`` -> dict of typed values."""
    import yaml

    out: dict[str, Any] = {}
    for item in items or ():
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise SweepError(f"--set '{item}': expected key=value, e.g. --set freq1=[0,3]")
        try:
            value = yaml.safe_load(raw)
            if isinstance(value, str) and "," in value:
                value = [yaml.safe_load(v) for v in value.split(",")]
        except yaml.YAMLError:
            raise SweepError(f"--set {key}: cannot parse value '{raw}'") from None
        out[key] = [cli_number(v) for v in value] if isinstance(value, list) else cli_number(value)
    return out


def study_args(p, *, study: bool = True) -> None:
    if study:
        p.add_argument("study", help="study name")
    p.add_argument(
        "--storage",
        default=None,
        metavar="URL",
        help="storage URL or file (default: $SWEEP_STORAGE, else the SQLite file runs/studies.db)",
    )


def backend_args(p) -> None:
    p.add_argument(
        "--backend",
        choices=BACKENDS.names(),
        default=None,
        help="where trials run: local worker processes, or Ray actors (default: "
        "the file's backend:, else local)",
    )
    p.add_argument(
        "--address",
        default=None,
        metavar="ADDR",
        help="the Ray cluster to join (auto, head:6379, ray://head:10001; implies "
        "--backend ray); default: the file's, else a local Ray",
    )


WORKERS_HELP = (
    f"parallel worker processes (or Ray actors), 1 to {MAX_WORKERS:,} (default: "
    "the file's budget.workers)"
)
DEVICE_HELP = "auto (one worker per GPU, else CPU workers), cpu, cuda or cuda:N (default: auto)"
PROGRESS_HELP = (
    "no progress: neither the live bar (on a terminal) nor the plain line per "
    "finished trial (when stdout is a file or a pipe)"
)
PROFILE_HELP = (
    "recipe preset: cpu, gpu (needs a CUDA device), or auto (gpu when CUDA is "
    "available); default: the file's proxy.profile, else auto"
)


def run_args(p) -> None:
    """--profile, --storage and --workers of the commands that run a study file's trials."""
    p.add_argument("--profile", choices=("auto", "cpu", "gpu"), default=None, help=PROFILE_HELP)
    p.add_argument(
        "--storage",
        default=None,
        metavar="URL",
        help="storage URL or file (default: the file's storage:, else "
        "$SWEEP_STORAGE, else runs/studies.db)",
    )
    p.add_argument(
        "--workers",
        type=count_arg("--workers", MAX_WORKERS, "workers"),
        default=None,
        metavar="N",
        help=WORKERS_HELP,
    )
