"""Cost of the diversity block a trial computes: one JSON line per configuration on stdout.

    python benchmarks/diversity.py            # n = 1000 at the cpu (16 px) and gpu (64 px) sizes

What is timed is ``proxy_tasks.augment.dataset_diversity``, exactly what a trial runs after
rendering: the stratified sample leaves the (CPU) tensor, the pre-training augmentation of the
preset is applied, and the whole block is computed. Target: at most 0.5 s per trial on CPU at n =
1000. Each configuration is run once untimed (imports, thread pools, FFT plans), then ``--repeats``
times; the median is reported. For a hardware-independent figure, the same run times the raw
float64 eigendecomposition of a 1000 x 1000 symmetric matrix (the block's one big linear-algebra
step) and reports the block's cost in units of it.
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--n", type=int, default=1000)
    args = ap.parse_args()

    import numpy as np
    import torch

    from proxy_tasks.augment import dataset_diversity
    from proxy_tasks.recipe import make_recipe
    from proxy_tasks.spec import TrialSpec
    from sweep.dataset import Dataset, DatasetSpec

    rng = np.random.default_rng(0)
    a = rng.normal(size=(args.n, args.n))
    sym = a @ a.T
    eig_s = _median_time(lambda: np.linalg.eigvalsh(sym), args.repeats)
    for profile in ("cpu", "gpu"):
        r = make_recipe(profile, {})
        ds = Dataset(
            DatasetSpec(
                "visualatom",
                classes=r.classes,
                instances=r.instances,
                image_size=r.img_size,
                seed=0,
            )
        )
        x, y = ds.tensors("cpu")
        spec = TrialSpec(profile=profile)
        block = {}

        def run(x=x, y=y, r=r, spec=spec, block=block) -> None:
            block.update(dataset_diversity(x, y, r, spec))

        s = _median_time(run, args.repeats)
        print(
            json.dumps(
                {
                    "benchmark": "diversity_block",
                    "profile": profile,
                    "image_size": r.img_size,
                    "dataset_images": len(ds),
                    "n": block["n"],
                    "feature_size": block["feature_size"],
                    "block_s": round(s, 4),
                    "target_s": 0.5,
                    "eig1000_s": round(eig_s, 4),
                    "block_in_eig1000_units": round(s / eig_s, 2),
                    "torch_threads": torch.get_num_threads(),
                    "vendi_q1": round(block["vendi_q1"], 2),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
