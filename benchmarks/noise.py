"""The noise budget of a proxy recipe: two arms on common seeds, JSON lines on stdout.

    python benchmarks/noise.py --pairs 16                      # freq [0,20] vs [10,20], cpu
    python benchmarks/noise.py --crossed 4,4 --set pretrain_epochs=10
    python benchmarks/noise.py --pairs 16 --set pretrain_epochs=10 --set finetune_epochs=0

Each cell (data seed, training seed) runs a real ViT trial of both arms (``sweep trial``'s
code: :func:`proxy_tasks.run_trial`), on ``--workers`` processes of one torch thread each, arms
in turn so the second arm's scratch baselines come from the cache (as in a study). ``--pairs N``
runs the cells ``(s, s)`` for ``s < N`` (a study's seeds: data seed = training seed); ``--crossed
D,T`` every ``(d, t)``.

Lines (``kind``): ``trial`` (cell, arm, headline, scratch, times); ``summary``: the paired
summary (each arm's SD, their correlation, the SD of the paired difference with its 95%
interval), the variance components when crossed (:mod:`sweep.noise`), the trial's time without
the scratch baseline (cached in a study) and the cost of a decision at an MDD of 1 point,
``(2.8 sd_d)^2`` paired seeds x 2 trials x the trial's time, in CPU-seconds (one core each).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ARMS = {"published": {}, "narrow": {"freq1": [10, 20], "freq2": [10, 20]}}
METRICS = ("linear", "linear_soft", "knn", "finetune")


def emit(row: dict) -> None:
    print(json.dumps(row, default=float), flush=True)


def one(job: tuple) -> dict:
    from proxy_tasks import run_trial
    from proxy_tasks.spec import TrialSpec

    arm, params, (d, t), profile, recipe, cache, generator = job
    t0 = time.perf_counter()
    res = run_trial(
        TrialSpec(
            generator=generator,
            params=params,
            profile=profile,
            recipe={**recipe, "threads": 1},
            data_seed=d,
            train_seed=t,
            cache_dir=cache,
            device="cpu",
        )
    )
    row = {
        "kind": "trial",
        "arm": arm,
        "data_seed": d,
        "train_seed": t,
        "status": res.status,
        "wall_s": time.perf_counter() - t0,
    }
    if res.status == "complete":
        m = res.metrics
        row.update(
            headline=m["headline"],
            scratch=m["scratch_headline"],
            loss=m["pretrain_loss"],
            **{k: v for k, v in m.items() if k.startswith("time_")},
        )
        for k in METRICS:  # every headline candidate, for the same trials
            if f"{k}_mean" in m:
                row[k] = m[f"{k}_mean"]
                row[f"scratch_{k}"] = m[f"{k}_mean"] - m[f"gain_{k}_mean"]
    else:
        row.update(error=res.message)
    return row


def main() -> None:
    from proxy_tasks.recipe import check_field
    from sweep.cli import parse_overrides

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--pairs", type=int, default=16, help="cells (s, s) for s < N")
    g.add_argument("--crossed", default=None, help="D,T: every (data seed, training seed)")
    ap.add_argument("--first", type=int, default=0, help="the first seed")
    ap.add_argument("--arms", default=json.dumps(ARMS), help="JSON {name: generator params}")
    ap.add_argument("--generator", default="visualatom")
    ap.add_argument("--profile", default="cpu")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--set", action="append", default=[], help="recipe override key=value")
    ap.add_argument("--delta", type=float, default=1.0, help="the MDD the cost is priced at")
    ap.add_argument("--label", default="")
    args = ap.parse_args()
    recipe = {k: check_field(k, v) for k, v in parse_overrides(args.set).items()}
    arms = json.loads(args.arms)
    if args.crossed:
        nd, nt = (int(v) for v in args.crossed.split(","))
        cells = [(args.first + d, args.first + t) for d in range(nd) for t in range(nt)]
    else:
        cells = [(args.first + s, args.first + s) for s in range(args.pairs)]
    t_all = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        jobs = [
            (a, p, c, args.profile, recipe, cache, args.generator)
            for a, p in arms.items()
            for c in cells
        ]
        ctx = mp.get_context("spawn")
        with ctx.Pool(args.workers, maxtasksperchild=None) as pool:
            for row in pool.imap(one, jobs):
                row["label"] = args.label
                emit(row)
                rows.append(row)
    summary(rows, arms, args, time.perf_counter() - t_all)


def summary(rows: list[dict], arms: dict, args, wall: float) -> None:
    import numpy as np

    from sweep.noise import components, decision_cost, paired_summary

    ok = [r for r in rows if r["status"] == "complete"]
    names = list(arms)
    table = {
        a: {(r["data_seed"], r["train_seed"]): r["headline"] for r in ok if r["arm"] == a}
        for a in names
    }
    scratch = {(r["data_seed"], r["train_seed"]): r["scratch"] for r in ok}
    trial_s = float(np.mean([r["time_total_s"] - r["time_scratch_s"] for r in ok]))
    out: dict = {
        "kind": "summary",
        "label": args.label,
        "recipe": args.set,
        "cells": len(table[names[0]]),
        "failed": len(rows) - len(ok),
        "wall_s": wall,
        "workers": args.workers,
        "trial_s_without_scratch": trial_s,
        "phases_s": {
            k: float(np.mean([r[k] for r in ok])) for k in ok[0] if k.startswith("time_")
        },
    }
    out["means"] = {a: float(np.mean(list(v.values()))) for a, v in table.items()}
    if len(names) >= 2:
        a, b = names[0], names[1]
        ps = paired_summary(table[a], table[b])
        out["paired"] = ps
        out["gain_over_scratch"] = paired_summary(table[a], scratch)
        out["cost_of_a_decision"] = decision_cost(ps["sd_paired"], trial_s, args.delta)
        out["cost_cpu_minutes"] = out["cost_of_a_decision"]["seconds_exact"] / 60
        if args.crossed:
            diff = {c: table[a][c] - table[b][c] for c in table[a] if c in table[b]}
            out["components"] = {
                a: components(table[a]),
                b: components(table[b]),
                "difference": components(diff),
            }
        out["metrics"] = {}
        for k in METRICS:  # the same trials judged by each headline candidate
            if k not in ok[0]:
                continue
            t = {
                x: {(r["data_seed"], r["train_seed"]): r[k] for r in ok if r["arm"] == x}
                for x in (a, b)
            }
            sc = {(r["data_seed"], r["train_seed"]): r[f"scratch_{k}"] for r in ok}
            p, g = paired_summary(t[a], t[b]), paired_summary(t[a], sc)
            out["metrics"][k] = {
                "mean": p["mean_a"],
                "diff": p["diff"],
                "sd_paired": p["sd_paired"],
                "correlation": p["correlation"],
                "gain": g["diff"],
                "gain_sd": g["sd_paired"],
                "diff_in_sd": p["diff"] / p["sd_paired"] if p["sd_paired"] else None,
                "gain_in_sd": g["diff"] / g["sd_paired"] if g["sd_paired"] else None,
            }
    emit(out)


if __name__ == "__main__":
    main()
