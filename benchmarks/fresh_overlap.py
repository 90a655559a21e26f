"""Fresh data against the fixed dataset: the proxy's pre-training rate (images/s) on one device
with a fixed dataset, with fresh data rendered when each epoch starts (plain) and with fresh
data rendered while the previous epoch trains (overlapped, the default). JSON lines on stdout.

    python benchmarks/fresh_overlap.py [--device cuda] [--profile auto] [--repeats 3]
        [--set pretrain_epochs=10 ...] [--generator visualatom] [--label X]

Each run is the trial's own pre-training (:func:`proxy_tasks.vit.pretrain`: a new ViT from the
training seed, the recipe's optimiser, schedule and augmentation) on VisualAtom at published
ranges, timed like a trial's ``time_pretrain_s`` (model creation to the last step, the device
synchronised); block 0 is rendered once, outside the timing. The modes run in a rotating
order, ``--repeats`` times each, after one untimed warm-up run (on CUDA it pays
``torch.compile``). Lines (``kind``):

* ``fresh_overlap_run``: one run: mode, repeat, seconds, images/s, final loss;
* ``fresh_render``: one block rendered alone (``block_s``, its images/s): what a plain epoch
  adds;
* ``fresh_overlap``: the medians per mode and the ratios ``plain_vs_fixed``,
  ``overlap_vs_fixed`` (issue 24's target on a GPU: >= 0.90) and ``overlap_vs_plain``, and
  ``same_training``: whether the plain and the overlapped runs ended on the same loss (they
  train on the same bytes).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from proxy_tasks.recipe import make_recipe  # noqa: E402
from proxy_tasks.torchutil import sync  # noqa: E402
from proxy_tasks.vit import pretrain  # noqa: E402
from sweep.cli import parse_overrides  # noqa: E402
from sweep.dataset import Dataset, DatasetSpec  # noqa: E402
from sweep.devices import resolve_profile  # noqa: E402
from sweep.seeding import Seeds  # noqa: E402

MODES = ("fixed", "plain", "overlap")


def emit(row: dict) -> None:
    print(json.dumps(row, default=float), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", default="auto")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--generator", default="visualatom")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0, help="the data seed and the training seed")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a recipe field (repeatable)",
    )
    ap.add_argument("--label", default="", help="a tag written into every line")
    args = ap.parse_args()
    dev = torch.device(
        "cuda"
        if args.device == "auto" and torch.cuda.is_available()
        else ("cpu" if args.device == "auto" else args.device)
    )
    profile = resolve_profile(args.profile, dev.type)
    r = make_recipe(profile, {**parse_overrides(args.set), "fresh_data": False})
    if r.threads:
        torch.set_num_threads(r.threads)
    head = {
        "label": args.label,
        "device": str(dev),
        "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "cpu_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "profile": profile,
        "generator": args.generator,
        "images_per_epoch": r.classes * r.instances,
        "epochs": r.pretrain_epochs,
    }
    recipes = {
        "fixed": r,
        "plain": dataclasses.replace(r, fresh_data=True),
        "overlap": dataclasses.replace(r, fresh_data=True),
    }

    def dataset(epochs: int) -> Dataset:
        return Dataset(
            DatasetSpec(
                args.generator,
                classes=r.classes,
                instances=r.instances,
                image_size=r.img_size,
                seed=args.seed,
                epochs=epochs,
            )
        )

    fixed_ds, fresh_ds = dataset(1), dataset(r.pretrain_epochs)
    x0, y = fresh_ds.tensors(dev)  # block 0: the fixed dataset's images too
    sync(dev)
    seeds = Seeds(args.seed)

    def run(mode: str, rr=None) -> dict:
        rr = rr or recipes[mode]
        x = x0.clone()  # fresh data overwrites its buffer
        sync(dev)
        t0 = time.perf_counter()
        _, stats = pretrain(
            rr,
            fixed_ds if mode == "fixed" else fresh_ds,
            x,
            y,
            dev,
            seeds,
            overlap=mode == "overlap",
        )
        sync(dev)
        s = time.perf_counter() - t0
        return {"seconds": s, "images_per_s": stats["images"] / s, "loss": stats["loss"]}

    warm = run("fixed", dataclasses.replace(r, pretrain_epochs=min(2, r.pretrain_epochs)))
    emit({"kind": "fresh_overlap_warmup", **head, **warm})
    rows: dict[str, list[dict]] = {m: [] for m in MODES}
    for i in range(args.repeats):
        for mode in MODES[i % 3 :] + MODES[: i % 3]:
            row = run(mode)
            rows[mode].append(row)
            emit({"kind": "fresh_overlap_run", **head, "mode": mode, "repeat": i, **row})

    buf = x0.clone()
    times = []
    for epoch in (1, 2, 1):
        t0 = time.perf_counter()
        fresh_ds.tensors(dev, epoch=epoch, out=buf)
        sync(dev)
        times.append(time.perf_counter() - t0)
    block_s = statistics.median(times)
    emit({"kind": "fresh_render", **head, "block_s": block_s, "images_per_s": len(x0) / block_s})

    rate = {m: statistics.median(x["images_per_s"] for x in rows[m]) for m in MODES}
    losses = {m: sorted({x["loss"] for x in rows[m]}) for m in MODES}
    emit(
        {
            "kind": "fresh_overlap",
            **head,
            "repeats": args.repeats,
            **{f"{m}_images_per_s": rate[m] for m in MODES},
            "plain_vs_fixed": rate["plain"] / rate["fixed"],
            "overlap_vs_fixed": rate["overlap"] / rate["fixed"],
            "overlap_vs_plain": rate["overlap"] / rate["plain"],
            "target_overlap_vs_fixed": 0.90,
            "block_s": block_s,
            "epoch_s_fixed": len(x0) / rate["fixed"],
            "losses": losses,
            "same_training": losses["plain"] == losses["overlap"],
        }
    )


if __name__ == "__main__":
    main()
