"""A study's answer in one sentence a scientist can read, with its numbers.

Imports: :mod:`sweep.values`, :mod:`sweep.paired` and this package's ``data``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sweep.answer.data import DIFFERENCE, EQUIVALENT, INSUFFICIENT, NEGLIGIBLE
from sweep.paired import decimals, interval_text
from sweep.values import is_number


def answer_line(answer: Mapping[str, Any]) -> str:
    """The answer in one sentence with its numbers (the fields of :mod:`sweep.answer`);
    ``provisional (why): ...`` while the confirmation that decides it has not ended."""
    if why := answer.get("provisional"):
        return f"provisional ({why}): " + answer_line({**answer, "provisional": None})
    bvp = answer.get("best_vs_published")
    fmt = decimals(
        answer.get("sd_paired") or answer.get("sigma_seed"),
        abs((bvp or {}).get("diff") or 0.0),
        answer.get("smallest_effect"),
    )

    def num(x: Any, signed: bool = False) -> str:
        if not is_number(x):
            return "n/a"
        return f"{x:+.{fmt}f}" if signed else f"{x:.{fmt}f}"

    def ci(c: Any) -> str:
        return interval_text(c, fmt) if c else "n/a"

    verdict = answer.get("verdict")
    best, pub = answer.get("best") or {}, answer.get("published") or {}
    if verdict == INSUFFICIENT or not bvp:
        return f"insufficient data: {answer.get('reason')}"
    lower = " (lower is better)" if answer.get("direction") == "minimize" else ""
    b, p = best.get("label"), pub.get("label")
    delta = num(answer.get("smallest_effect"))
    where = (
        f"{100 * bvp['level']:.1f}% CI {ci(bvp['ci'])}, {bvp['n']} paired seeds, "
        f"paired SD {num(answer.get('sd_paired'))}"
    )
    diff = num(bvp["diff"], True)
    if verdict == DIFFERENCE and answer.get("winner") == "candidate":
        k = (answer.get("confirm") or {}).get("k", 1)
        sc = answer.get("best_vs_scratch")
        over = f"; {num(sc['diff'], True)} over scratch" if sc else ""
        return (
            f"difference: {b} beats the published {p} by {diff} points ({where}, best of "
            f"{k}; smallest effect {delta}){over}{lower}"
        )
    if verdict == DIFFERENCE:
        whom = "every candidate" if answer.get("published_beats") == "every" else "the best"
        sc = answer.get("published_vs_scratch")
        over = f"; {num(sc['diff'], True)} over scratch" if sc else ""
        return (
            f"difference: the published {p} beats {whom} (best {b}: {diff} points, "
            f"{where}; smallest effect {delta}){over}{lower}"
        )
    if verdict == EQUIVALENT:
        return (
            f"equivalent: nothing beats the published {p} by {delta} points or more (best "
            f"{b}: {diff}, {where}){lower}"
        )
    if verdict == NEGLIGIBLE:
        return (
            f"negligible: {b} differs from the published {p} by {diff} points, real but "
            f"below the smallest effect of {delta} ({where}){lower}"
        )
    need = answer.get("seeds_to_decide")
    more = f"; about {need} paired seeds would decide" if need else ""
    return (
        f"undecided: the best {b} is {diff} points from the published {p} ({where}), "
        f"neither clear of 0 nor inside +-{delta}{more}{lower}"
    )
