"""The figures of a ``benchmarks/device_proxy.sh`` run as one table (text), or JSON with --json.

    python benchmarks/summarize_device.py OUTDIR [--json]

Per recipe label (a.jsonl: the candidate alone on the GPU; f.jsonl: it with fresh data every
epoch, alone; b.jsonl: variants sharing the GPU; c.jsonl: calibration levels alone): completed
trials, the headline candidates (fine-tune, linear
probe, kNN; mean over downstreams) with their standard deviation over seeds and their gain over
scratch, per downstream, the pre-training loss, and the warm trial time without the scratch
baselines (a sweep computes those once per seed). Then the raw step rates, the pre-training
rate against the compiled raw step, fresh data against the fixed dataset (pre-training rate
ratio, paired gain and loss differences), and the packed throughput of phase B.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np


def _rows(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue  # a line cut by a timeout
    return out


def _stat(values: list[float]) -> dict[str, float]:
    a = np.asarray(values, dtype=float)
    return {
        "mean": float(a.mean()),
        "std": float(a.std(ddof=1)) if len(a) > 1 else 0.0,
        "n": len(a),
    }


def summarize(outdir: Path) -> dict:
    a = outdir / "a.jsonl"
    a = a if a.is_file() else outdir / "proxy.jsonl"  # an earlier script's single phase
    phases = {
        "A": _rows(a),
        "F": _rows(outdir / "f.jsonl"),
        "B": _rows(outdir / "b.jsonl"),
        "C": _rows(outdir / "c.jsonl"),
    }
    labels: dict[str, dict] = {}
    raw = [r for rows in phases.values() for r in rows if r.get("kind") == "raw_step"]
    for phase, rows in phases.items():
        trials = [r for r in rows if r.get("kind") == "trial"]
        for label in dict.fromkeys(r.get("label", "") for r in trials):
            mine = [r for r in trials if r.get("label", "") == label]
            ok = [r for r in mine if r["status"] == "complete"]
            s: dict = {"phase": phase, "trials": len(mine), "complete": len(ok)}
            if ok:
                keys = [
                    "headline",
                    "gain_headline",
                    "finetune_mean",
                    "gain_finetune_mean",
                    "linear_mean",
                    "gain_linear_mean",
                    "knn_mean",
                    "gain_knn_mean",
                    "pretrain_loss",
                ]
                keys += sorted(k for k in ok[0] if re.fullmatch(r"[\w.-]+/(gain_)?finetune", k))
                s.update({k: _stat([r[k] for r in ok]) for k in keys if k in ok[0]})
                warm = ok[1:] or ok  # the first trial of a process pays torch.compile
                s["trial_s_no_scratch"] = _stat([r["wall_s"] - r["time_scratch_s"] for r in warm])
                for k in (
                    "time_generate_s",
                    "time_pretrain_s",
                    "time_evaluate_s",
                    "time_scratch_s",
                    "pretrain_images_per_s",
                    "gpu_peak_mem_gib",
                ):
                    if k in ok[0]:
                        s[k] = _stat([r[k] for r in warm])
                ceiling = raw[0].get("compiled_images_per_s") if raw else None
                if phase in ("A", "F") and ceiling:
                    s["pretrain_vs_raw_compiled"] = s["pretrain_images_per_s"]["mean"] / ceiling
            labels[label or phase] = s
    out: dict = {"labels": labels, "raw_step": raw}
    fresh = _fresh_vs_fixed(phases["A"], phases["F"])
    if fresh:
        out["fresh_vs_fixed"] = fresh
    out["fresh_render"] = [r for r in phases["F"] if r.get("kind") == "fresh_render"]
    timeline = outdir / "timeline.txt"
    m = re.search(r"B: done in (\d+) s", timeline.read_text()) if timeline.is_file() else None
    b_ok = [r for r in phases["B"] if r.get("kind") == "trial" and r["status"] == "complete"]
    if m and b_ok:
        wall = float(m.group(1))
        out["phase_B"] = {
            "processes": len({r.get("label") for r in b_ok}),
            "complete_trials": len(b_ok),
            "wall_s": wall,
            "trials_per_hour": len(b_ok) * 3600 / wall,
        }
    tests = outdir / "tests.txt"
    if tests.is_file():
        lines = [ln for ln in tests.read_text().splitlines() if ln.strip()]
        out["gpu_tests"] = lines[-1] if lines else ""
    return out


def _fresh_vs_fixed(fixed_rows: list[dict], fresh_rows: list[dict]) -> dict | None:
    """Phase F (fresh data) against phase A (the same recipe on a fixed dataset), paired by
    seed: the pre-training rate ratio (warm trials) and the per-seed differences of the gain
    over scratch (same scratch baselines) and of the headline."""

    def ok(rows):
        return {
            r["seed"]: r
            for r in rows
            if r.get("kind") == "trial" and r.get("status") == "complete"
        }

    a, f = ok(fixed_rows), ok(fresh_rows)
    seeds = sorted(set(a) & set(f))
    if not seeds:
        return None
    warm = seeds[1:] or seeds  # the first trial of each process pays torch.compile
    rate = np.mean([f[s]["pretrain_images_per_s"] for s in warm]) / np.mean(
        [a[s]["pretrain_images_per_s"] for s in warm]
    )
    return {
        "seeds": seeds,
        "pretrain_rate_ratio": float(rate),
        "gain_headline_diff": _stat(
            [f[s]["gain_headline"] - a[s]["gain_headline"] for s in seeds]
        ),
        "pretrain_loss_diff": _stat(
            [f[s]["pretrain_loss"] - a[s]["pretrain_loss"] for s in seeds]
        ),
    }


def _fmt(s: dict | None, digits: int = 1) -> str:
    if not s:
        return "-"
    return f"{s['mean']:.{digits}f} +- {s['std']:.{digits}f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("outdir", type=Path)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if not args.outdir.is_dir():
        sys.exit(f"summarize_device: {args.outdir}: no such directory")
    out = summarize(args.outdir)
    if args.json:
        print(json.dumps(out, indent=1))
        return
    cols = [
        ("headline", 2),
        ("gain_headline", 2),
        ("linear_mean", 2),
        ("gain_linear_mean", 2),
        ("knn_mean", 2),
        ("gain_knn_mean", 2),
        ("pretrain_loss", 3),
        ("trial_s_no_scratch", 1),
    ]
    print("label".ljust(12), "ph", "ok ", *(c.ljust(16) for c, _ in cols))
    for label, s in out["labels"].items():
        print(
            label[:12].ljust(12),
            s["phase"].ljust(2),
            f"{s['complete']}/{s['trials']}",
            *(_fmt(s.get(c), d).ljust(16) for c, d in cols),
        )
    for label, s in out["labels"].items():
        per = {k: _fmt(v) for k, v in s.items() if "/" in k}
        if per:
            print(f"{label}: " + ", ".join(f"{k} {v}" for k, v in per.items()))
    for key in ("raw_step", "fresh_vs_fixed", "fresh_render", "phase_B", "gpu_tests"):
        if out.get(key):
            print(key, json.dumps(out[key], default=float))


if __name__ == "__main__":
    main()
