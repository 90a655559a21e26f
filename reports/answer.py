"""The study's answer to its question, as the report shows it: stored, computed, or why none.

A study exists to answer its ``question:``. :func:`answer_info` reads the answer the engine
stored on the study (:data:`sweep.record.STUDY_ANSWER`); a study without one (written before
answers) gets one computed now by :func:`sweep.answer.answer_of_study` when that module is
there, and otherwise a note that says how to get one (old studies still report). The answer is
plain data (``verdict`` in a fixed vocabulary, ``reason``, the paired comparisons with their
95% intervals, the MDD, ``warnings`` and ``next`` steps); :func:`markdown` is its opening of
the dashboard note, and :func:`code_parts` splits a ``next`` step into text and commands.

Imports: the standard library and :mod:`sweep.record`; :mod:`sweep.answer` lazily (by name, so
that a checkout without it still reports).
"""

from __future__ import annotations

import importlib
import math
import re
from collections.abc import Mapping
from types import ModuleType
from typing import Any, TypedDict

from sweep import record

#: what the section says for a study that stores no answer and cannot compute one
NO_ANSWER = (
    "no answer stored: this study was written before answers; run sweep resume to compute one"
)
#: the paired comparisons an answer holds, and how the page names them
COMPARISONS = (
    ("best_vs_published", "confirmed best − published"),
    ("best_vs_scratch", "confirmed best − scratch"),
    ("published_vs_scratch", "published − scratch"),
)


class AnswerInfo(TypedDict):
    source: str | None  # "stored" (on the study) | "computed" (now, by sweep.answer) | None
    answer: dict[str, Any] | None  # sweep.answer.answer_of_study's dict
    verdict: str | None
    reason: str | None
    line: str | None  # the one-sentence answer
    note: str | None  # why there is no answer


def answer_module() -> ModuleType | None:
    """:mod:`sweep.answer`, or None in a checkout that does not have it yet."""
    try:
        return importlib.import_module("sweep.answer")
    except ModuleNotFoundError as e:
        if e.name in ("sweep.answer", "sweep"):
            return None
        raise


def answer_info(study) -> AnswerInfo:
    """The study's answer: the stored one, else one computed now, else why there is none."""
    out: AnswerInfo = {
        "source": None,
        "answer": None,
        "verdict": None,
        "reason": None,
        "line": None,
        "note": None,
    }
    stored = study.user_attrs.get(record.STUDY_ANSWER)
    mod = answer_module()
    check = getattr(mod, "provisional", None)  # (an answer module of an older checkout: none)
    running = check is not None and check(study.user_attrs.get(record.STUDY_CONFIRM))
    if isinstance(stored, Mapping) and stored and not running:
        answer, out["source"] = dict(stored), "stored"
    elif mod is not None:  # (while the confirmation runs: computed now, provisional)
        try:
            answer, out["source"] = dict(mod.answer_of_study(study)), "computed"
        except Exception as e:  # a study the statistics cannot read must still report
            out["note"] = f"{NO_ANSWER} (computing one now failed: {type(e).__name__}: {e})"
            return out
    else:
        out["note"] = NO_ANSWER
        return out
    out["answer"] = answer
    out["verdict"] = str(answer.get("verdict") or "insufficient_data")
    out["reason"] = str(answer.get("reason") or "")
    out["line"] = one_line(answer, mod)
    return out


def one_line(answer: Mapping[str, Any], mod: ModuleType | None) -> str:
    """The one-sentence answer: :func:`sweep.answer.answer_line`, else the verdict and reason."""
    if mod is not None and hasattr(mod, "answer_line"):
        try:
            return str(mod.answer_line(answer))
        except Exception:  # an older stored answer the current code cannot phrase
            pass
    verdict = str(answer.get("verdict") or "insufficient_data").replace("_", " ")
    reason = str(answer.get("reason") or "").strip()
    return f"{verdict[:1].upper()}{verdict[1:]}" + (f": {reason}" if reason else ".")


# ----------------------------------------------------------------------------- formatting
def number(v: Any) -> float | None:
    """``v`` as a finite float, or None."""
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    return float(v) if math.isfinite(v) else None


def count(v: Any) -> int | None:
    """A number of seeds given as a count or as the list of seeds."""
    if isinstance(v, list | tuple):
        return len(v)
    n = number(v)
    return int(n) if n is not None else None


def fmt_interval(ci: Any) -> str | None:
    """``[-0.50, +2.96]``, or None for anything but two numbers."""
    if not isinstance(ci, list | tuple) or len(ci) != 2:
        return None
    lo, hi = number(ci[0]), number(ci[1])
    return None if lo is None or hi is None else f"[{lo:+.3g}, {hi:+.3g}]"


def fmt_diff(cmp: Mapping[str, Any] | None) -> str | None:
    """``+1.23 [-0.50, +2.96] (95%; n=8 seeds)`` of a paired difference, or None; an interval
    at another level (adjusted for the candidates and looks) follows the 95% one."""
    diff = number(cmp.get("diff")) if isinstance(cmp, Mapping) else None
    if cmp is None or diff is None:
        return None
    level = number(cmp.get("level"))
    ci = fmt_interval(cmp.get("ci"))
    adjusted = ci is not None and level is not None and abs(level - 0.95) > 1e-9
    ci95 = fmt_interval(cmp.get("ci95")) or (None if adjusted else ci)
    head, bits = f"{diff:+.3g}", []
    if ci95:
        head += f" {ci95}"
        bits.append("95%")
    if adjusted and level is not None:
        at = f"{level * 100:.3g}% adjusted for the candidates and looks"
        if ci95:
            bits.append(f"{ci} at {at}")
        else:
            head += f" {ci}"
            bits.append(at)
    n = count(cmp.get("n"))
    if n is not None:
        bits.append(f"n={n} seeds")
    return head + (f" ({'; '.join(bits)})" if bits else "")


def code_parts(step: str) -> list[tuple[str, bool]]:
    """A ``next`` step as ``[(text, is_code)]``: backticked spans are code, and so is a step
    that is a command itself (it starts with ``sweep`` or ``python``)."""
    step = str(step)
    if "`" in step:
        parts = re.split(r"`([^`]*)`", step)
        return [(p, i % 2 == 1) for i, p in enumerate(parts) if p]
    if re.match(r"^(sweep|python3?|\.venv/bin/)\b", step.strip()):
        return [(step.strip(), True)]
    return [(step, False)]


def markdown(info: Mapping[str, Any]) -> list[str]:
    """The dashboard note's opening lines: the verdict and the one-sentence answer, the
    reason, the warnings and the next steps."""
    if info.get("note"):
        return [f"**Answer: none.** {info['note']}", ""]
    answer = info.get("answer") or {}
    label = "Provisional answer" if answer.get("provisional") else "Answer"  # (confirming)
    lines = [f"**{label}: {info['verdict']}.** {info['line']}", ""]
    if info.get("reason"):
        lines += [f"Reason: {info['reason']}", ""]
    for w in answer.get("warnings") or []:
        lines.append(f"> **Warning:** {w}")
    if answer.get("warnings"):
        lines.append("")
    steps = answer.get("next") or []
    for s in steps:
        lines.append("- Next: " + "".join(f"`{t}`" if c else t for t, c in code_parts(s)))
    if steps:
        lines.append("")
    return lines
