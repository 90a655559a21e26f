"""Device renderer profile: Triton vs eager torch backends, chunk sizes, top CUDA kernels.

    python benchmarks/gpu_profile.py [--generator visualatom] [--size 512]

Prints JSON lines (one per chunk size) and a torch.profiler table; needs a CUDA device.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sweep.dataset import Dataset, DatasetSpec
from sweep.generators import _radial


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--generator", default="visualatom")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--classes", type=int, default=12)
    ap.add_argument("--instances", type=int, default=1000)
    args = ap.parse_args()
    ds = Dataset(
        DatasetSpec(
            args.generator, classes=args.classes, instances=args.instances, image_size=args.size
        )
    )
    ds.render_class(0, np.arange(8), device="cuda")
    from sweep.generators import _radial_triton

    kw = _radial.render_torch.__kwdefaults__
    defaults, tri_default = dict(kw), dict(_radial_triton.CONFIG)
    configs = [
        ("triton", {"block": b, "num_warps": w, "shift": sh})
        for b, w, sh in (
            (128, 4, True),
            (64, 2, True),
            (256, 4, True),
            (256, 8, True),
            (128, 4, False),
            (64, 4, False),
        )
    ]
    configs.append(("torch", {}))
    for backend, cfg in configs:
        kw["backend"] = backend
        _radial_triton.CONFIG.update(cfg or tri_default)
        try:
            ds.render_class(0, np.arange(8), device="cuda")  # compile / warm up
        except Exception as e:  # a config that does not compile here is reported, not fatal
            print(json.dumps({"backend": backend, **cfg, "error": repr(e)[:300]}), flush=True)
            continue
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        n = sum(ds.render_class(c, device="cuda").shape[0] for c in range(1, ds.classes))
        torch.cuda.synchronize()
        rate = n / (time.perf_counter() - t0)
        print(
            json.dumps(
                {
                    "generator": args.generator,
                    "size": args.size,
                    "backend": backend,
                    **cfg,
                    "images": n,
                    "images_per_s": round(rate, 1),
                    "peak_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2),
                }
            ),
            flush=True,
        )
    kw.update(defaults)
    _radial_triton.CONFIG.update(tri_default)
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for c in range(1, 4):
            ds.render_class(c, device="cuda")
        torch.cuda.synchronize()
    print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=25))


if __name__ == "__main__":
    main()
