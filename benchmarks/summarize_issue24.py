"""The figures of a ``benchmarks/device_issue24.sh`` run as one JSON object on stdout.

    python benchmarks/summarize_issue24.py OUTDIR

Keys (each absent when its step did not finish): ``env``; ``gpu_tests`` (pytest's last line);
``rate`` (``benchmarks/fresh_overlap.py``'s summary: the fixed, plain and overlapped pre-training
rates and their ratios, ``overlap_vs_fixed`` against the target 0.90: ``rate_target_met``;
``overlap_at_least_plain``: whether the overlap, CUDA's default, beats the plain render) and
``render``; ``noise``
(``sweep noise --json``: the gpu preset's paired SD and the paired seeds a decision needs);
``paired`` (phase P through :func:`summarize_device.summarize`: per arm, fixed and fresh, the
headline and the gain over scratch with their std over seeds; ``fresh_vs_fixed``: the per-seed
differences of the gain and the pre-training loss; its rate ratio is renamed
``pretrain_rate_ratio_shared_gpu``: the two arms ran at once); ``calibration`` (its analysis);
``timeline``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from summarize_device import _rows, summarize


def _json(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _last_line(path: Path) -> str | None:
    if not path.is_file():
        return None
    lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def summarize_issue24(outdir: Path) -> dict:
    out: dict = {}
    env = outdir / "env.txt"
    if env.is_file():
        out["env"] = env.read_text().splitlines()
    if (t := _last_line(outdir / "tests.txt")) is not None:
        out["gpu_tests"] = t
    rate = _rows(outdir / "rate.jsonl")
    for kind, key in (("fresh_overlap", "rate"), ("fresh_render", "render")):
        rows = [r for r in rate if r.get("kind") == kind]
        if rows:
            out[key] = rows[-1]
    if "rate" in out:  # the issue's target, and whether the overlap earns its place as default
        out["rate_target_met"] = out["rate"]["overlap_vs_fixed"] >= 0.90
        out["overlap_at_least_plain"] = out["rate"]["overlap_vs_plain"] >= 1.0
    runs = [r for r in rate if r.get("kind") == "fresh_overlap_run"]
    if runs and "rate" not in out:  # cut before its summary: the runs that finished
        out["rate_runs"] = runs
    if (noise := _json(outdir / "noise.json")) is not None:
        out["noise"] = noise
    if (outdir / "a.jsonl").is_file() or (outdir / "f.jsonl").is_file():
        paired = summarize(outdir)
        f = paired.get("fresh_vs_fixed")
        if f and "pretrain_rate_ratio" in f:
            f["pretrain_rate_ratio_shared_gpu"] = f.pop("pretrain_rate_ratio")
        out["paired"] = {k: paired[k] for k in ("labels", "fresh_vs_fixed") if k in paired}
    if (cal := _json(outdir / "analysis.json")) is not None:
        out["calibration"] = cal
    timeline = outdir / "timeline.txt"
    if timeline.is_file():
        out["timeline"] = timeline.read_text().splitlines()
    return out


def main() -> None:
    if len(sys.argv) != 2 or not Path(sys.argv[1]).is_dir():
        sys.exit("usage: summarize_issue24.py OUTDIR")
    print(json.dumps(summarize_issue24(Path(sys.argv[1])), indent=1, default=float))


if __name__ == "__main__":
    main()
