"""Orchestration overhead of the sweep engine per trial: JSON lines on stdout.

    python benchmarks/engine.py                   # SQLite and journal file, 1, 2 and 8 workers
    SWEEP_PG_URL=postgresql+psycopg://user:pw@127.0.0.1/db python benchmarks/engine.py

Each run is a real ``sweep launch`` (``sweep.engine.run``) of a study over the ``analytic`` proxy
task (a free objective: no rendering, no training), so what is measured is everything around a
trial: sampler, storage, worker processes, tickets, attributes. The per-trial overhead is the
slope between a small and a large budget, ``(t_large - t_small) / (n_large - n_small)``, which
removes the fixed cost of starting the workers; ``startup_s`` is that fixed cost. Target: at most
0.2 s per trial. One untimed run first warms the caches (imports, Numba).
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
storage: {storage}
"""


def timed_run(tmp: Path, storage: str, workers: int, trials: int, sampler: str, tag: str) -> float:
    from sweep.engine import run

    study = f"bench-{tag}-{workers}-{trials}"
    f = tmp / f"{study}.yaml"
    f.write_text(SPACE.format(study=study, sampler=sampler, storage=storage))
    t0 = time.perf_counter()
    out = run(str(f), workers=workers, trials=trials, device="cpu", progress=False, quiet=True,
              cache_dir=None)  # fmt: skip
    elapsed = time.perf_counter() - t0
    if out["counts"]["COMPLETE"] != trials:
        raise RuntimeError(f"{study}: {out['counts']}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workers", default="1,2,8")
    ap.add_argument("--small", type=int, default=8)
    ap.add_argument("--large", type=int, default=48)
    ap.add_argument("--sampler", default="tpe")
    args = ap.parse_args()
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
                print(json.dumps({
                    "storage": kind, "workers": w, "sampler": args.sampler,
                    "trials": [args.small, args.large], "wall_s": [small, large],
                    "overhead_s_per_trial": per_trial,
                    "startup_s": small - per_trial * args.small,
                    "cores": os.cpu_count(),
                }), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
