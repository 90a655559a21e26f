"""The answer's error rates and power by simulation on the analytic task: JSON lines on stdout.

    python benchmarks/decisions.py                    # the design point, 300 studies a scenario
    python benchmarks/decisions.py --sd 0.9 --studies 200

Each scenario plants a true difference (0, 0.5, 1, 1.5, 2 and 3 times the smallest effect
delta) of an optimum over the published band and simulates ``--studies`` studies with the
engine's rules (:mod:`sweep.simulation`: a 16-band search, the top 2 and the published
band raced on common fresh seeds 3 -> 6 -> 12 -> 24, the answer after each round). Every
verdict is scored against the confirmed best's true difference:

* ``false_difference``: a difference claimed where the truth is 0 (bound: 5%);
* ``false_equivalence``: equivalent or negligible claimed where the truth is 2 delta or more
  (bound: 5%);
* ``power``: a difference the right way where the truth is delta or more (target: 80% at the
  design point).

The design point (``--sd`` omitted): the paired SD at which the race's cap has an adjusted MDD
of exactly delta (Student's t, as the answer's intervals: :func:`sweep.paired.power_factor`
with ``df = cap - 1``): the noisiest proxy the default confirmation is built for. Lines:
``design``, then one ``scenario`` per true difference.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    from sweep.answer.data import rounds
    from sweep.paired import power_factor
    from sweep.simulation import Design, scenario

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--studies", type=int, default=300)
    ap.add_argument("--sd", type=float, default=None, help="paired SD (default: design point)")
    ap.add_argument("--correlation", type=float, default=0.75)
    ap.add_argument("--delta", type=float, default=1.0)
    ap.add_argument("--cap", type=int, default=24)
    ap.add_argument("--top", type=int, default=2)
    ap.add_argument("--multiples", default="0,0.5,1,1.5,2,3")
    args = ap.parse_args()
    looks = len(rounds(3, args.cap))
    factor = power_factor(0.05 / (args.top * looks), df=args.cap - 1)
    sd = args.sd if args.sd is not None else args.delta * args.cap**0.5 / factor
    design = Design(
        delta=args.delta, sd_paired=sd, correlation=args.correlation, top=args.top, cap=args.cap
    )
    print(
        json.dumps(
            {
                "kind": "design",
                **design.as_dict(),
                "looks": looks,
                "alpha_adjusted": 0.05 / (args.top * looks),
                "factor": factor,
                "design_point": args.sd is None,
            }
        ),
        flush=True,
    )
    for i, m in enumerate(float(v) for v in args.multiples.split(",")):
        t0 = time.perf_counter()
        r = scenario(design, m * args.delta, args.studies, offset=10_000 * i)
        r.update(kind="scenario", multiple=m, seconds=round(time.perf_counter() - t0, 1))
        print(json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
