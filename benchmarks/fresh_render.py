"""The cost of fresh data: rendering one epoch's block of a dataset into a device buffer, against
the pre-training step that consumes it. One JSON line on stdout.

    python benchmarks/fresh_render.py [--device cuda] [--classes 100] [--instances 100]
        [--img-size 64] [--epochs 6] [--generator visualatom]

``block_s``: seconds to render one block (``classes x instances`` new images; the first block
excluded as warm-up), ``images_per_s`` its rate. A pre-training epoch of the same size at R
images/s takes ``classes * instances / R`` s: fresh data costs ``block_s`` on top of that unless
rendering overlaps training.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from proxy_tasks.torchutil import sync
from sweep.dataset import Dataset, DatasetSpec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--generator", default="visualatom")
    ap.add_argument("--classes", type=int, default=100)
    ap.add_argument("--instances", type=int, default=100)
    ap.add_argument("--img-size", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=6)
    args = ap.parse_args()
    import torch

    dev = torch.device(args.device)
    ds = Dataset(
        DatasetSpec(
            args.generator,
            classes=args.classes,
            instances=args.instances,
            image_size=args.img_size,
            epochs=args.epochs,
        )
    )
    buf, _ = ds.tensors(dev)  # block 0: also the class parameters, drawn once
    sync(dev)
    times = []
    for epoch in range(1, args.epochs):
        t0 = time.perf_counter()
        ds.tensors(dev, epoch=epoch, out=buf)
        sync(dev)
        times.append(time.perf_counter() - t0)
    warm = times[1:] or times
    block_s = sum(warm) / len(warm)
    print(
        json.dumps(
            {
                "kind": "fresh_render",
                "generator": args.generator,
                "device": str(dev),
                "classes": args.classes,
                "instances": args.instances,
                "img_size": args.img_size,
                "block_s": block_s,
                "images_per_s": len(ds) / block_s,
                "first_block_s": times[0],
            }
        )
    )


if __name__ == "__main__":
    main()
