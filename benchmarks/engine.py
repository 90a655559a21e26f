"""Orchestration overhead of the sweep engine per trial: JSON lines on stdout.

    python benchmarks/engine.py                   # SQLite and journal file, 1, 2 and 8 workers
    SWEEP_PG_URL=postgresql+psycopg://user:pw@127.0.0.1/db python benchmarks/engine.py

Each run is a real ``sweep launch`` (``sweep.engine.run``) of a study over the ``analytic`` proxy
task (a free objective: no rendering, no training), so what is measured is everything around a
trial: sampler, storage, worker processes, tickets, attributes. The per-trial overhead is the
slope between a small and a large budget, ``(t_large - t_small) / (n_large - n_small)``, which
removes the fixed cost of starting the workers; ``startup_s`` is that fixed cost. Target: at most
0.2 s per trial. One untimed run first warms the caches (imports, Numba).

``--before PATH`` times another checkout in the same run: for each worker count, this
checkout's benchmark and PATH's ``benchmarks/engine.py`` run as subprocesses one after the other
(same interpreter, packages and machine), and a line per storage and worker count gives both
overheads and wall times (medians of ``--repeat`` alternating runs) and the ratio of the
large budget's wall times (after/before; below 1: faster now). The slope is noisy on a busy
machine (a few hundredths of a second a trial); the wall-time ratio is the steadier figure.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SPACE = """\
study: {study}
generator: {{name: visualatom}}
search:
  freq: {{type: int_range, low: 0, high: 20, min_width: 1, targets: [freq1, freq2]}}
  orbits: {{type: int_range, low: 1, high: 400}}
proxy: {{task: analytic, profile: cpu}}
objectives: [{{headline: maximize}}]
sampler: {sampler}
budget: {{trials: 10, workers: 1}}
confirm: false
storage: {storage}
"""


def timed_run(tmp: Path, storage: str, workers: int, trials: int, sampler: str, tag: str) -> float:
    from sweep.engine import run

    study = f"bench-{tag}-{workers}-{trials}"
    f = tmp / f"{study}.yaml"
    f.write_text(SPACE.format(study=study, sampler=sampler, storage=storage))
    t0 = time.perf_counter()
    out = run(
        str(f),
        workers=workers,
        trials=trials,
        device="cpu",
        progress=False,
        quiet=True,
        cache_dir=None,
    )
    elapsed = time.perf_counter() - t0
    if out["counts"]["COMPLETE"] != trials:
        raise RuntimeError(f"{study}: {out['counts']}")
    return elapsed


def compare(before: Path, args: argparse.Namespace) -> None:
    """Both checkouts' benchmarks, alternating ``--repeat`` times per worker count; the median
    overhead and start-up of each, and the ratio of overheads."""
    import statistics
    import subprocess

    def lines(root: Path, w: str) -> dict[tuple[str, int], dict]:
        cmd = [
            sys.executable,
            str(root / "benchmarks" / "engine.py"),
            "--workers",
            w,
            "--small",
            str(args.small),
            "--large",
            str(args.large),
            "--sampler",
            args.sampler,
        ]
        env = {**os.environ, "PYTHONPATH": str(root)}
        out = subprocess.run(
            cmd, env=env, cwd=root, capture_output=True, text=True, check=True
        ).stdout
        rows = [json.loads(x) for x in out.splitlines() if x.startswith("{")]
        return {(r["storage"], r["workers"]): r for r in rows}

    def median(runs: list[dict], key: tuple, field: str) -> float:
        if field == "wall_s_large":  # both versions print wall_s = [small, large]
            return statistics.median(r[key]["wall_s"][1] for r in runs)
        return statistics.median(r[key][field] for r in runs)

    for w in args.workers.split(","):
        old: list[dict] = []
        new: list[dict] = []
        for _ in range(args.repeat):
            old.append(lines(before, w))
            new.append(lines(ROOT, w))
        for key in new[0]:
            if key not in old[0]:
                continue
            a, b = (median(runs, key, "overhead_s_per_trial") for runs in (old, new))
            wall_a, wall_b = (median(runs, key, "wall_s_large") for runs in (old, new))
            print(
                json.dumps(
                    {
                        "storage": key[0],
                        "workers": key[1],
                        "sampler": args.sampler,
                        "trials": [args.small, args.large],
                        "repeat": args.repeat,
                        "before_overhead_s_per_trial": round(a, 4),
                        "after_overhead_s_per_trial": round(b, 4),
                        "before_wall_s_large": round(wall_a, 3),
                        "after_wall_s_large": round(wall_b, 3),
                        "ratio_wall_after_before": round(wall_b / wall_a, 3),
                        "before_startup_s": round(median(old, key, "startup_s"), 3),
                        "after_startup_s": round(median(new, key, "startup_s"), 3),
                    }
                ),
                flush=True,
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workers", default="1,2,8")
    ap.add_argument("--small", type=int, default=8)
    ap.add_argument("--large", type=int, default=48)
    ap.add_argument("--sampler", default="tpe")
    ap.add_argument("--before", type=Path, help="another checkout to time in the same run")
    ap.add_argument("--repeat", type=int, default=3, help="with --before: runs of each")
    args = ap.parse_args()
    if args.before:
        compare(args.before.resolve(), args)
        return
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        storages = {"sqlite": str(tmp / "studies.db"), "journal": str(tmp / "journal.log")}
        if os.environ.get("SWEEP_PG_URL"):
            storages["postgresql"] = os.environ["SWEEP_PG_URL"]
        timed_run(tmp, str(tmp / "warmup.db"), 1, 2, args.sampler, "warmup")
        for kind, url in storages.items():
            for w in (int(v) for v in args.workers.split(",")):
                small = timed_run(tmp, url, w, args.small, args.sampler, kind)
                large = timed_run(tmp, url, w, args.large, args.sampler, kind)
                per_trial = (large - small) / (args.large - args.small)
                print(
                    json.dumps(
                        {
                            "storage": kind,
                            "workers": w,
                            "sampler": args.sampler,
                            "trials": [args.small, args.large],
                            "wall_s": [small, large],
                            "overhead_s_per_trial": per_trial,
                            "startup_s": small - per_trial * args.small,
                            "cores": os.cpu_count(),
                        }
                    ),
                    flush=True,
                )


if __name__ == "__main__":
    main()
