"""Argument types shared by the commands: counts checked while the arguments are parsed, before
torch, Optuna or a storage is touched.

Imports: the standard library only.
"""

from __future__ import annotations

import argparse

# A launch queues a ticket per trial (10**12 hung) and starts a process or Ray actor per worker.
MAX_TRIALS = 100_000
"""the largest search budget (``--trials``, the study's total) one launch accepts"""
MAX_WORKERS = 1_024
"""the most worker processes or Ray actors (``--workers``) one launch starts"""


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
