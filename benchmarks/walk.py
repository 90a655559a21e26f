"""How one launch walks through the modules: the launcher's calls between the modules of
``sweep/``, ``proxy_tasks/`` and ``reports/``, traced with :func:`sys.setprofile`. JSON lines.

    python benchmarks/walk.py                   # this checkout
    python benchmarks/walk.py --before ../old   # and another checkout, in the same run

Each checkout runs ``sweep launch`` of the same analytic study (8 trials, 1 local worker, no
confirmation) in a fresh process with its root first on ``sys.path``; only the launcher is traced
(its worker is another process). Printed per checkout: ``modules`` (distinct modules entered)
and ``edges`` (distinct caller -> callee module pairs): the shape of the walk, the same on any
machine; ``transitions`` (calls from one of these modules into another), ``reentries``
(transitions into a module the walk had already left: the "enters and leaves again" of issue
21) and ``calls``, which grow with the launcher's polls while its worker runs, so with the
machine's speed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

STUDY = """\
study: walk
generator: {name: visualatom}
search:
  freq: {type: int_range, low: 0, high: 20, min_width: 1, targets: [freq1, freq2]}
proxy: {task: analytic, profile: cpu}
objectives: [{headline: maximize}]
budget: {trials: 8, workers: 1}
confirm: false
storage: walk.db
"""

TRACER = r"""
import json, sys
root, space = sys.argv[1], sys.argv[2]
sys.path.insert(0, root)
prefixes = tuple(f"{root}/{p}/" for p in ("sweep", "proxy_tasks", "reports"))
stack, seen, entered, edges = [], set(), set(), set()
out = {"calls": 0, "transitions": 0, "reentries": 0}

def module_of(frame):
    f = frame.f_code.co_filename
    return f[len(root) + 1 : -3] if f.startswith(prefixes) else None

def prof(frame, event, arg):
    if event == "call":
        m = module_of(frame)
        caller = stack[-1] if stack else None
        stack.append(m if m is not None else caller)
        if m is None:
            return
        out["calls"] += 1
        if m != caller:
            out["transitions"] += 1
            if caller is not None:
                edges.add((caller, m))
            if m in entered:
                out["reentries"] += 1
            entered.add(m)
        seen.add(m)
    elif event == "return" and stack:
        stack.pop()

from sweep.cli import main
sys.setprofile(prof)
rc = main(["launch", space, "--no-progress", "--device", "cpu"])
sys.setprofile(None)
out.update(rc=rc, modules=len(seen), edges=len(edges))
print(json.dumps(out))
"""


def walk(root: Path) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        space = Path(tmp) / "walk.yaml"
        space.write_text(STUDY)
        proc = subprocess.run(
            [sys.executable, "-c", TRACER, str(root.resolve()), str(space)],
            cwd=tmp,
            capture_output=True,
            text=True,
            timeout=600,
        )
    if proc.returncode != 0:
        raise SystemExit(f"walk.py: {root}: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", type=Path, help="another checkout to trace in the same run")
    args = ap.parse_args()
    after = walk(ROOT)
    print(json.dumps({"checkout": "this", **after}))
    if args.before:
        before = walk(args.before)
        print(json.dumps({"checkout": str(args.before), **before}))
        keys = ("modules", "edges", "transitions", "reentries")
        print(json.dumps({"after_over_before": {k: after[k] / before[k] for k in keys}}))


if __name__ == "__main__":
    main()
