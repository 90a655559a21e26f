"""Cost of a study's answer (:func:`sweep.answer.compute_answer`): one JSON line per size.

    python benchmarks/answer.py                 # 1,000 and 10,000 trials
    python benchmarks/answer.py --sizes 1000 --repeats 9

Each size is a synthetic study shaped like the engine's: search trials of one seed each over
distinct configurations (a few percent of them replicates on a second seed), the published
arm, then the confirmation: the top 3 candidates and the published configuration on 8 common
fresh seeds (3 looks). What is timed is ``compute_answer`` on the ``TrialRecord`` list (the
records are built once, untimed), the median of ``--repeats`` runs after one untimed warm-up
(scipy's import). Target: under 1 s for 1,000 trials.

For a figure that survives a noisy machine, the same run times two references of the same
size: ``numpy_s``, a plain numpy pass over as many values (argsort plus a bincount of n * 8
floats), and ``read_s``, the floor of any reader: one loop over the records reading each one's
per-seed values. The ratios ``answer_in_numpy_units`` and ``answer_in_read_units`` are the
hardware-independent figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _median_time(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def synthetic(n: int, seed: int = 0):
    """``(records, plan)`` of a synthetic study of ``n`` trials (see the module docstring)."""
    import numpy as np

    from sweep import record

    rng = np.random.default_rng(seed)
    recs: list[record.TrialRecord] = []

    def add(cfg: int, s: int, arm: str) -> None:
        v = 50.0 + 0.01 * (cfg % 97) + rng.normal()
        key = json.dumps({"x": cfg})
        per_seed = {str(s): {"headline": v, record.SCRATCH_METRIC: 40.0 + 0.1 * s}}
        attrs = {
            record.PER_SEED: per_seed,
            record.ARM: arm,
            record.CONFIG_KEY: key,
            record.SEEDS: [s],
            "headline": v,
        }
        recs.append(
            record.TrialRecord(
                number=len(recs),
                state="COMPLETE",
                values=(v,),
                params={"x": cfg},
                metrics={"headline": v},
                attrs=attrs,
            )
        )

    seeds = list(range(1000, 1008))
    n_search = n - 1 - 4 * len(seeds)
    for i in range(n_search):
        replicate = i % 25 == 24  # a replicate of an earlier configuration on a new seed
        add(i - 1 if replicate else i, 1 if replicate else 0, "search")
    add(-1, 0, "published")
    ranked = sorted(recs[:n_search], key=lambda r: -r.metrics["headline"])
    cands = list(dict.fromkeys(r.config_key for r in ranked))[:3]
    for key in [*cands, json.dumps({"x": -1})]:
        for s in seeds:
            add(json.loads(key)["x"], s, "confirm")
    plan = {
        "seeds": seeds,
        "candidates": cands,
        "published": json.dumps({"x": -1}),
        "top": 3,
        "max_seeds": 8,
        "looks": 3,
    }
    return recs, plan


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()

    import numpy as np

    from sweep.answer import compute_answer

    for n in args.sizes:
        recs, plan = synthetic(n)
        answer = {}

        def run(recs=recs, plan=plan, answer=answer) -> None:
            answer.update(compute_answer(recs, confirm=plan))

        x = np.random.default_rng(1).random(n * 8)
        idx = (x * n).astype(np.int64)

        def plain(x=x, idx=idx) -> None:
            np.argsort(x)
            np.bincount(idx, weights=x)

        def read(recs=recs) -> None:
            for r in recs:
                r.per_seed("headline")

        s = _median_time(run, args.repeats)
        numpy_s = _median_time(plain, args.repeats)
        read_s = _median_time(read, args.repeats)
        print(
            json.dumps(
                {
                    "benchmark": "answer",
                    "trials": len(recs),
                    "answer_s": round(s, 4),
                    "target_s": 1.0 if n <= 1000 else None,
                    "numpy_s": round(numpy_s, 5),
                    "read_s": round(read_s, 4),
                    "answer_in_numpy_units": round(s / numpy_s, 1),
                    "answer_in_read_units": round(s / read_s, 1),
                    "verdict": answer["verdict"],
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
