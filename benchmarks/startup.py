"""Start-up time of the command line: ``sweep --help``, ``sweep validate FILE`` and a one-trial
launch of the free ``analytic`` task (launcher, 2 worker processes, the answer), JSON lines.

    python benchmarks/startup.py                      # this checkout
    python benchmarks/startup.py --before ../old      # and another checkout, in the same run

Each command runs as ``python -m sweep ...`` in a fresh process with the checkout's root first
on ``sys.path`` (so another checkout's code runs, with the same interpreter and packages), the
checkouts interleaved, ``--repeat`` times each after one untimed warm-up; the median wall time is
printed, and with ``--before`` the ratio after/before (below 1: faster now). A ratio taken in one
run survives a noisy machine; an absolute time does not.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = {
    "help": ["--help"],
    "validate": ["validate", "search_spaces/freq.yaml"],
    "validate_calibration": ["validate", "search_spaces/calibrate_freq.yaml"],
    # {tmp}: a fresh folder per run (a new study each time); the file is written there
    "launch_analytic": ["launch", "{tmp}/one.yaml", "--storage", "{tmp}/s.db", "--no-progress"],
}
ONE_TRIAL = """\
study: one
generator: {name: visualatom}
search:
  freq: {type: int_range, low: 0, high: 20, min_width: 1, targets: [freq1, freq2]}
proxy: {task: analytic, profile: cpu}
budget: {trials: 1, workers: 2}
confirm: false
"""


def timed(root: Path, args: list[str]) -> float:
    env = {**os.environ, "PYTHONPATH": str(root)}
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "one.yaml").write_text(ONE_TRIAL)
        args = [a.replace("{tmp}", tmp) for a in args]
        t0 = time.perf_counter()
        res = subprocess.run(
            [sys.executable, "-m", "sweep", *args],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
        )
        dt = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(f"{root}: sweep {' '.join(args)} failed: {res.stderr.strip()[-500:]}")
    return dt


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", type=Path, help="another checkout to time in the same run")
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    trees = {"after": ROOT}
    if args.before:
        trees = {"before": args.before.resolve(), **trees}
    for cmd in COMMANDS.values():
        times: dict[str, list[float]] = {k: [] for k in trees}
        for root in trees.values():
            timed(root, cmd)  # warm-up: file caches, .pyc
        for _ in range(args.repeat):
            for key, root in trees.items():
                times[key].append(timed(root, cmd))
        out: dict[str, object] = {"command": f"sweep {' '.join(cmd)}", "repeat": args.repeat}
        for key, ts in times.items():
            out[f"{key}_median_s"] = round(statistics.median(ts), 3)
        if args.before:
            out["ratio_after_before"] = round(
                statistics.median(times["after"]) / statistics.median(times["before"]), 3
            )
        print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
