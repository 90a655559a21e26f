"""Section "Answer" (first on the page): the study's answer to its question.

The warnings first (what the proxy cannot answer), then the question, the verdict in its fixed
word (``difference`` / ``equivalent`` / ``negligible`` / ``undecided`` / ``insufficient_data``,
:data:`sweep.answer.VERDICTS`) with its reason, the one-sentence answer, the confirmed best
against the published configuration and scratch as paired differences with 95% intervals and n
seeds, the smallest effect that matters, the paired SD next to a single arm's SD and the arms'
correlation, the paired MDD, the omnibus test, and the next steps (commands as code). A study
without an answer (written before answers) says so and how to get one.

Imports: the standard library, :mod:`reports.answer`, :mod:`reports.text` and
:mod:`reports.sections.base`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reports.answer import COMPARISONS, code_parts, count, fmt_diff, number
from reports.sections.base import Page, Section
from reports.text import num, params_text


def scalar(v: Any) -> str | None:
    """A number (4 significant digits), a string, or a list of them joined by ``/``."""
    if isinstance(v, list | tuple):
        parts = [scalar(x) for x in v]
        return "/".join(p for p in parts if p is not None) if None not in parts else None
    if isinstance(v, float):
        return num(v)
    return str(v) if isinstance(v, str | int) else None


def scalars(d: Any) -> str | None:
    """``key value, ...`` of a mapping's plain items (the omnibus test, the arms)."""
    if isinstance(d, Mapping):
        items = [(k, scalar(v)) for k, v in d.items()]
        return ", ".join(f"{k} {v}" for k, v in items if v is not None) or None
    return scalar(d)


def arm_row(name: str, part: Any) -> dict[str, Any] | None:
    """A row of the arms table: the arm's mean of the metric, its seeds, trial and values."""
    if not isinstance(part, Mapping) or number(part.get("mean")) is None:
        return None
    params = part.get("params") if isinstance(part.get("params"), Mapping) else None
    trial = part.get("trial")
    return {
        "name": name,
        "mean": num(number(part.get("mean"))),
        "seeds": count(part.get("seeds")),
        "trial": trial if isinstance(trial, int) and not isinstance(trial, bool) else None,
        "params": str(part.get("label") or "")
        or (params_text(params) if params else str(part.get("config") or "")),
    }


def repeats(line: str | None, reason: str | None) -> bool:
    """The one-sentence answer says no more than the verdict and its reason."""
    if not line or not reason:
        return False
    return line.rstrip(". ").endswith(reason.rstrip(". "))


def context(page: Page) -> dict[str, Any]:
    info = page.data["answer"]
    question = page.data["summary"]["question"]
    if not info["answer"]:
        return {"question": question, "note": info["note"], "source": None, "warnings": []}
    a = info["answer"]
    metric = str(a.get("metric") or "")
    comparisons = [
        {"label": label, "text": fmt_diff(a.get(key)) or "not measured"}
        for key, label in COMPARISONS
        if key in a
    ]
    parts = (("confirmed best", "best"), ("published", "published"), ("scratch", "scratch"))
    arms = [r for name, key in parts if (r := arm_row(name, a.get(key))) is not None]
    mdd, sigma = number(a.get("mdd")), number(a.get("sigma_seed"))
    sd, corr = number(a.get("sd_paired")), number(a.get("correlation"))
    delta, need = number(a.get("smallest_effect")), a.get("seeds_to_decide")
    facts = [
        ("smallest effect that matters", num(delta) if delta is not None else None),
        ("paired SD of a difference (per seed)", num(sd) if sd is not None else None),
        ("single-arm seed SD σ", num(sigma) if sigma is not None else None),
        ("correlation of paired arms", num(corr) if corr is not None else None),
        (
            "paired minimal detectable difference (80% power, 5%)",
            f"{mdd:.3g} on these paired seeds" if mdd is not None else None,
        ),
        ("paired seeds that would decide", str(need) if isinstance(need, int) else None),
        ("omnibus test", scalars(a.get("omnibus"))),
        ("exact repeats", scalars(a.get("exact_repeats"))),
        ("arms", scalars(a.get("arms"))),
    ]
    return {
        "question": a.get("question") or question,
        "note": None,
        "source": info["source"],
        "verdict": info["verdict"],
        "reason": info["reason"],
        "line": None if repeats(info["line"], info["reason"]) else info["line"],
        "metric": metric,
        "warnings": [str(w) for w in a.get("warnings") or []],
        "comparisons": comparisons,
        "arms": arms,
        "facts": [(k, v) for k, v in facts if v],
        "next": [code_parts(s) for s in a.get("next") or []],
    }


SECTION = Section(
    id="answer",
    nav="Answer",
    title="Answer",
    template="section-answer.html.j2",
    context=context,
)
