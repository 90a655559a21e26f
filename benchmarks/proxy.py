"""Proxy-trial throughput, seed noise and packing: JSON lines on stdout.

    python benchmarks/proxy.py                       # profile by device (gpu with CUDA)
    python benchmarks/proxy.py --seeds 0,1,2 --pack 2
    python benchmarks/proxy.py --label lr2x --set lr=8e-3 --no-raw   # a recipe variant

Lines (``kind``):

* ``raw_step``: the raw training-step rate of the profile's model and batch on synthetic device
  tensors (same loss, optimiser, precision), eager and, on CUDA, torch.compile'd (with its
  compile time): the ceiling a trial's pre-training phase is compared with; ``--raw-batches``
  adds the eager rate at other batch sizes;
* ``trial``: one real trial per seed (VisualAtom, published ranges): status, the pre-training
  rate and its ratio to the raw step rate (compiled when the recipe compiles), the wall time split
  into generate / pre-train / evaluate / scratch, peak GPU memory and the downstream metrics;
* ``summary``: mean and standard deviation over seeds of the headline candidates (fine-tune,
  linear probe and kNN accuracy, averaged over downstreams) and of their gains over scratch, and
  trials per GPU-hour from the warm trials (the first trial of a process pays compilation and the
  scratch baselines);
* ``packing`` (``--pack N``): N worker processes on one device, each warmed up by one trial,
  then the seeds after the first timed in each, all started together: trials per hour packed
  against sequential. The packed trials re-use the seeds of the sequential ones, so their scratch
  baselines come from the cache, as in a sweep (one baseline per seed, not per trial).

``--set key=value`` overrides recipe fields (YAML values); ``--label`` tags every line.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from proxy_tasks import run_trial  # noqa: E402
from proxy_tasks.models import compiled_loss as _compiled_loss  # noqa: E402
from proxy_tasks.models import create_vit, make_adamw  # noqa: E402
from proxy_tasks.models import forward_loss as _loss  # noqa: E402
from proxy_tasks.recipe import make_recipe  # noqa: E402
from proxy_tasks.spec import TrialSpec  # noqa: E402
from proxy_tasks.torchutil import autocast as _autocast  # noqa: E402
from proxy_tasks.torchutil import scoped_torch_seed  # noqa: E402
from proxy_tasks.torchutil import sync as _sync  # noqa: E402
from sweep.cli import parse_overrides  # noqa: E402
from sweep.devices import resolve_profile  # noqa: E402


def emit(row: dict) -> None:
    print(json.dumps(row, default=float), flush=True)


def raw_step_rates(r, device: torch.device, steps: int = 30, extra_batches=()) -> dict:
    out = {
        "kind": "raw_step",
        "model": r.model,
        "img_size": r.img_size,
        "patch": r.patch_size,
        "embed_dim": r.embed_dim,
        "depth": r.depth,
        "batch": r.batch_size,
        "precision": r.precision,
    }
    modes = [("eager", _loss)]
    if device.type == "cuda" and r.compile:
        modes.append(("compiled", _compiled_loss()))
    for name, fn in modes:
        out[f"{name}_warmup_s"], out[f"{name}_images_per_s"] = _step_rate(
            r, device, r.batch_size, fn, steps
        )
    for batch in extra_batches:  # eager only: a compiled graph per batch costs a compile each
        out[f"eager_images_per_s_batch{batch}"] = _step_rate(r, device, batch, _loss, steps)[1]
    return out


def _step_rate(r, device: torch.device, batch: int, fn, steps: int) -> tuple[float, float]:
    """(seconds of 3 warm-up steps, images/s of ``steps`` timed steps): one fresh model trained
    on synthetic device tensors with the recipe's loss, optimiser and precision."""
    from timm.loss import SoftTargetCrossEntropy

    with scoped_torch_seed(0, device):
        model = create_vit(r, r.classes).to(device).train()
        x = torch.randn(batch, r.in_chans, r.img_size, r.img_size, device=device)
        t = torch.softmax(torch.randn(batch, r.classes, device=device), 1)
    opt = make_adamw(model, 1e-3, 0.05, device)
    crit = SoftTargetCrossEntropy()

    def step():
        with _autocast(device, r.precision):
            loss = fn(model, crit, x, t)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    t0 = time.perf_counter()
    for _ in range(3):
        step()
    _sync(device)
    warmup = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    return warmup, steps * batch / (time.perf_counter() - t0)


def one_trial(seed: int, profile: str, device: str, cache: str, recipe: dict) -> dict:
    t0 = time.perf_counter()
    res = run_trial(
        TrialSpec(
            generator="visualatom",
            profile=profile,
            device=device,
            recipe=recipe,
            data_seed=seed,
            train_seed=seed,
            cache_dir=cache,
        )
    )
    row = {"kind": "trial", "seed": seed, "status": res.status, "wall_s": time.perf_counter() - t0}
    if res.status != "complete":
        row.update(error_type=res.error_type, message=res.message)
        return row
    m = res.metrics
    row.update({k: v for k, v in m.items() if not k.startswith("time_")})
    row.update({k: v for k, v in m.items() if k.startswith("time_")})
    return row


def worker(args) -> None:
    """--worker: warm up with the first seed, signal ready, wait for go, time the others."""
    ready, go = Path(args.ready), Path(args.go)
    seeds = [int(v) for v in args.seeds.split(",")]
    one_trial(seeds[0], args.profile, args.device, args.cache, args.recipe)
    ready.write_text("ready")
    while not go.exists():
        time.sleep(0.05)
    rows = [
        one_trial(s, args.profile, args.device, args.cache, args.recipe)
        for s in seeds[1:] or seeds
    ]
    emit({"kind": "worker", "rows": rows})


def packing(n: int, args, sequential_s: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        go = Path(tmp) / "go"
        procs, readies = [], []
        for i in range(n):
            ready = Path(tmp) / f"ready{i}"
            readies.append(ready)
            cmd = [
                sys.executable,
                __file__,
                "--worker",
                "--seeds",
                args.seeds,
                "--profile",
                args.profile,
                "--device",
                args.device,
                "--cache",
                args.cache,
                "--ready",
                str(ready),
                "--go",
                str(go),
            ]
            cmd += [a for item in args.set for a in ("--set", item)]
            procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True))
        deadline = time.time() + args.pack_timeout
        while not all(r.exists() for r in readies):
            if time.time() > deadline or any(p.poll() is not None for p in procs):
                for p in procs:
                    p.kill()
                return {"kind": "packing", "n": n, "error": "workers did not get ready"}
            time.sleep(0.1)
        t0 = time.perf_counter()
        go.write_text("go")
        rows = [
            r
            for p in procs
            for r in json.loads(p.communicate()[0].strip().splitlines()[-1])["rows"]
        ]
        wall = time.perf_counter() - t0
    return {
        "kind": "packing",
        "label": args.label,
        "n": n,
        "trials": len(rows),
        "wall_s": wall,
        "trials_per_hour_packed": len(rows) * 3600 / wall,
        "trials_per_hour_sequential": 3600 / sequential_s,
        "speedup": (len(rows) * 3600 / wall) / (3600 / sequential_s),
        "statuses": [r["status"] for r in rows],
        "max_peak_mem_gib": max(r.get("gpu_peak_mem_gib", 0) for r in rows),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", default="auto")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--pack", type=int, default=0, help="also measure N packed workers")
    ap.add_argument("--pack-timeout", type=float, default=240)
    ap.add_argument("--cache", default=None, help="scratch cache (default: a temporary dir)")
    ap.add_argument("--no-raw", action="store_true")
    ap.add_argument("--raw-batches", default="", help="also the eager raw rate at these batches")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a recipe field (repeatable)",
    )
    ap.add_argument("--label", default="", help="a tag written into every line")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--ready", help=argparse.SUPPRESS)
    ap.add_argument("--go", help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.recipe = parse_overrides(args.set)
    dev = torch.device(
        "cuda"
        if args.device == "auto" and torch.cuda.is_available()
        else ("cpu" if args.device == "auto" else args.device)
    )
    args.device = str(dev)
    args.profile = resolve_profile(args.profile, dev.type)
    tmp = tempfile.TemporaryDirectory()
    args.cache = args.cache or tmp.name
    if args.worker:
        worker(args)
        return
    r = make_recipe(args.profile, args.recipe)
    raw = {}
    if not args.no_raw:
        extra = [int(v) for v in args.raw_batches.split(",") if v]
        raw = raw_step_rates(r, dev, extra_batches=extra)
        emit({**raw, "label": args.label})
    ceiling = raw.get("compiled_images_per_s") or raw.get("eager_images_per_s")
    rows = []
    for s in (int(v) for v in args.seeds.split(",")):
        row = one_trial(s, args.profile, args.device, args.cache, args.recipe)
        row["label"] = args.label
        if ceiling and row["status"] == "complete":
            row["pretrain_vs_raw_step"] = row["pretrain_images_per_s"] / ceiling
        rows.append(row)
        emit(row)
    ok = [x for x in rows if x["status"] == "complete"]
    summary = {
        "kind": "summary",
        "label": args.label,
        "profile": args.profile,
        "device": args.device,
        "recipe": args.recipe,
        "trials": len(rows),
        "complete": len(ok),
    }
    keys = [
        "finetune_mean",
        "linear_mean",
        "knn_mean",
        "gain_finetune_mean",
        "gain_linear_mean",
        "gain_knn_mean",
        "headline",
        "pretrain_loss",
        "pretrain_images_per_s",
        "time_total_s",
        "time_pretrain_s",
        "time_evaluate_s",
        "time_scratch_s",
    ]
    for name in r.downstreams:
        keys += [
            f"{name}/{m}"
            for m in ("finetune", "gain_finetune", "linear", "gain_linear", "knn", "gain_knn")
        ]
    for key in keys:
        vals = np.array([x[key] for x in ok], dtype=float)
        if len(vals):
            summary[key] = {"mean": vals.mean(), "std": vals.std(ddof=1) if len(vals) > 1 else 0.0}
    # Warm trials: after the first of the process (compilation). A sweep computes each seed's
    # scratch baselines once, so its steady-state trial is the warm wall time less their time.
    warm_rows = ok[1:] or ok
    warm = [x["wall_s"] - x["time_scratch_s"] for x in warm_rows]
    if warm:
        summary["warm_trial_wall_s_with_scratch"] = float(
            np.mean([x["wall_s"] for x in warm_rows])
        )
        summary["warm_trial_wall_s"] = float(np.mean(warm))
        summary["trials_per_hour"] = 3600 / float(np.mean(warm))
    if ceiling and ok:
        rates = [x["pretrain_images_per_s"] for x in ok[1:]] or [ok[0]["pretrain_images_per_s"]]
        summary["warm_pretrain_vs_raw_step"] = float(np.mean(rates)) / ceiling
    if dev.type == "cuda":
        summary["gpu"] = torch.cuda.get_device_name()
    emit(summary)
    if args.pack and warm:
        emit(packing(args.pack, args, float(np.mean(warm))))


if __name__ == "__main__":
    main()
