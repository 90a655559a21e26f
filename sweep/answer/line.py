"""A study's answer in one sentence a scientist can read, with its numbers.

Imports: :mod:`sweep.values` and this package's ``data`` and ``statistics``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sweep.answer.data import EFFECT, INSUFFICIENT
from sweep.answer.statistics import decimals
from sweep.values import is_number


def answer_line(answer: Mapping[str, Any]) -> str:
    """The answer in one sentence with its numbers (the fields of :mod:`sweep.answer`)."""
    bvp = answer.get("best_vs_published")
    fmt = decimals(answer.get("sigma_seed"), abs((bvp or {}).get("diff") or 0.0))

    def num(x: Any, signed: bool = False) -> str:
        if not is_number(x):
            return "n/a"
        return f"{x:+.{fmt}f}" if signed else f"{x:.{fmt}f}"

    def ci(c: Any) -> str:
        return f"[{num(c[0])}, {num(c[1])}]" if c else "n/a"

    verdict = answer.get("verdict")
    best, pub = answer.get("best") or {}, answer.get("published") or {}
    if verdict == INSUFFICIENT or not bvp:
        return f"insufficient data: {answer.get('reason')}"
    lower = " (lower is better)" if answer.get("direction") == "minimize" else ""
    b, p = best.get("label"), pub.get("label")
    level = f"{100 * bvp['level']:.1f}% CI {ci(bvp['ci'])}"
    seeds = f"{bvp['n']} fresh seeds"
    mdd = num(answer.get("mdd"))
    diff = num(bvp["diff"], True)
    if verdict == EFFECT and answer.get("winner") == "candidate":
        k = (answer.get("confirm") or {}).get("k", 1)
        sc = answer.get("best_vs_scratch")
        over = f"; {num(sc['diff'], True)} over scratch" if sc else ""
        return (
            f"effect: {b} beats the published {p} by {diff} points ({level}, {seeds}, best of "
            f"{k}, MDD {mdd}){over}{lower}"
        )
    if verdict == EFFECT:
        whom = "every candidate" if answer.get("published_beats") == "every" else "the best"
        sc = answer.get("published_vs_scratch")
        over = f"; {num(sc['diff'], True)} over scratch" if sc else ""
        return (
            f"effect: the published {p} beats {whom} (best {b}: {diff} points, {level}, "
            f"{seeds}, MDD {mdd}){over}{lower}"
        )
    return (
        f"no detectable effect: no configuration differs from the published {p} by more than "
        f"the proxy's MDD of {mdd} points (best {b}: {diff}, {level}, {seeds}){lower}"
    )
