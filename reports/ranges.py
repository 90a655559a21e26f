"""Range pairs: each searched ``int_range``/``float_range`` parameter on its (min, max) plane.

A range pair ``freq = [min, max]`` is searched through Optuna's ``freq.min`` and ``freq.span``
(:mod:`sweep.space`); the report names it by its resolved values, ``freq.min`` and ``freq.max``,
and explains ``span`` once (:func:`span_note`, on the page and in the dashboard note).
:func:`ranges` gives, per range pair, every completed trial's resolved ``(min, max)``, its band
width ``max - min`` and its first-objective value (a trial's mean over its seeds), its arm, and
the impossible half of the plane (``max < min + min_width``) as a polygon inside
``[low, high]^2``.

The published configuration is marked once per seed set (:func:`published_marks`): first its
mean over the seeds of the figure's ``reference:published`` line (:mod:`reports.references`:
the answer's confirmation seeds, else the published arm's), so the mark sits on the line; then
each published-arm trial whose seeds differ (the one search seed, say), labelled with its
seeds. A one-seed value drawn next to an 8-seed line would read as a disagreement.

Past :data:`reports.sampling.MAX_POINTS` completed trials, ``points`` holds every trial of the
other arms and a seeded random sample of the search trials (``sampled`` says how many of how
many; the figures say so in their titles).

Imports: the standard library, :mod:`reports.sampling` and :mod:`sweep.record`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

from reports.sampling import MAX_POINTS, Sampled, pick, sampled
from sweep import record

#: the searched types that are range pairs
RANGE_TYPES = ("int_range", "float_range")


def span_note(name: str = "freq") -> str:
    """What Optuna's ``<name>.span`` is (said once on the page and in the dashboard note)."""
    return (
        f"A range pair such as {name} = [min, max] is named here by its resolved values, "
        f"{name}.min and {name}.max. Optuna (and optuna-dashboard) store it as {name}.min and "
        f"{name}.span: span, the sampler's internal coordinate in [0, 1], gives max = min + "
        "min_width + span * (high - min - min_width) (for log: true, max = (min + min_width) "
        "* (high / (min + min_width)) ** span), rounded to the integers or the step."
    )


class RangePoint(TypedDict):
    number: int
    arm: str  # search, published, confirm or reference:<name>
    min: float
    max: float
    width: float  # max - min
    value: float  # the first objective (a trial's mean over its seeds)


class PublishedMark(TypedDict):
    label: str  # what the mark is, with its seed set: "published: 55.2 (8 seeds, the line)"
    value: float  # the first objective's mean over those seeds
    seeds: int | None  # how many
    seed_list: list[int] | None  # which, when known (a trial's seeds)
    source: str  # "line" (the reference line's seeds) | "trial" (one published-arm trial's)
    trials: list[int]  # the published-arm trials behind it (links)
    min: float
    max: float
    width: float


class RangePair(TypedDict):
    param: str
    kind: str  # "int" | "float"
    low: float
    high: float
    min_width: float
    log: bool
    metric: str | None
    points: list[RangePoint]
    sampled: Sampled  # how many of the completed trials' points ``points`` holds
    published: list[int]  # trial numbers of the published arm among the points
    published_marks: list[PublishedMark]  # one per seed set (see the module docstring)
    impossible: list[list[float]]  # the polygon [[min, max], ...] where max < min + min_width
    reason: str | None  # why there are no points


class RangesInfo(TypedDict):
    pairs: list[RangePair]


def range_entries(search: Sequence[Mapping[str, Any]] | None) -> list[Mapping[str, Any]]:
    """The study config's ``search`` entries that are range pairs with numeric bounds."""
    out = []
    for e in search or []:
        if e.get("type") in RANGE_TYPES and _num(e.get("low")) and _num(e.get("high")):
            out.append(e)
    return out


def _num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def impossible_polygon(low: float, high: float, min_width: float) -> list[list[float]]:
    """The part of the square ``[low, high]^2`` of (min, max) where ``max < min + min_width``:
    below the line ``max = min + min_width`` (consecutive repeated corners dropped)."""
    w = max(0.0, min(float(min_width), high - low))
    corners = [
        [low, low],
        [low, low + w],
        [high - w, high],
        [high, high],
        [high, low],
    ]
    poly: list[list[float]] = []
    for c in corners:
        c = [float(c[0]), float(c[1])]
        if not poly or poly[-1] != c:
            poly.append(c)
    return poly


def _seeds_text(seeds: Sequence[int]) -> str:
    shown = ", ".join(str(s) for s in seeds[:4]) + (", ..." if len(seeds) > 4 else "")
    return f"seed{'s' if len(seeds) != 1 else ''} {shown}"


def _same_set(line: PublishedMark, seeds: list[int], value: float, known: list[int] | None):
    """Whether a trial's seeds are the line's: the same seeds when the line's are known, else
    (an answer's mean, its seeds not listed) as many seeds and the same mean."""
    if known is not None:
        return sorted(seeds) == known
    return line["seeds"] == len(seeds) and abs(line["value"] - value) <= 1e-9 * max(
        1.0, abs(value)
    )


def published_marks(
    points: Sequence[RangePoint],
    rows: Sequence[Mapping[str, Any]],
    line: Mapping[str, Any] | None,
) -> list[PublishedMark]:
    """The published configuration's marks, one per seed set: its mean over the reference
    line's seeds (``line``, a :class:`reports.references.Reference`, when there is one), then
    each published-arm point whose seeds are not those (labelled with its seeds)."""
    pub = [p for p in points if p["arm"] == record.ARM_PUBLISHED]
    if not pub:
        return []
    seeds_of = {r["number"]: list(r.get("seeds") or []) for r in rows}
    at = pub[0]  # (every published-arm trial has the published values)
    marks: list[PublishedMark] = []
    line_seeds: list[int] | None = None
    if line is not None:
        n = line.get("seeds")
        if line.get("source") == "trials":  # pooled from the published arm's trials
            line_seeds = sorted({s for p in pub for s in seeds_of.get(p["number"], [])})
        of = f"{n} seed{'s' if n != 1 else ''}, " if n is not None else ""
        marks.append(
            {
                "label": f"published: {line['value']:.4g} ({of}as the line)",
                "value": float(line["value"]),
                "seeds": n,
                "seed_list": line_seeds,
                "source": "line",
                "trials": [p["number"] for p in pub],
                "min": at["min"],
                "max": at["max"],
                "width": at["width"],
            }
        )
    for p in pub:
        seeds = seeds_of.get(p["number"], [])
        if marks and _same_set(marks[0], seeds, p["value"], line_seeds):
            continue  # the line's own seed set: already marked
        marks.append(
            {
                "label": f"published, trial {p['number']} on {_seeds_text(seeds)}: "
                f"{p['value']:.4g}",
                "value": p["value"],
                "seeds": len(seeds) or None,
                "seed_list": seeds,
                "source": "trial",
                "trials": [p["number"]],
                "min": at["min"],
                "max": at["max"],
                "width": at["width"],
            }
        )
    return marks


def range_pair(
    e: Mapping[str, Any],
    rows: Sequence[Mapping[str, Any]],
    metric: str | None,
    line: Mapping[str, Any] | None = None,
    seed: int = 0,
    cap: int = MAX_POINTS,
) -> RangePair:
    """One range pair's plane: the completed trials' resolved (min, max) and first objective."""
    name = e["name"]
    low, high = float(e["low"]), float(e["high"])
    w = float(e.get("min_width") or 0)
    points: list[RangePoint] = []
    for r in rows:
        view = r.get("view") or {}
        lo, hi = view.get(f"{name}.min"), view.get(f"{name}.max")
        if r["state"] != "COMPLETE" or not r["values"] or not (_num(lo) and _num(hi)):
            continue
        assert lo is not None and hi is not None
        points.append(
            {
                "number": r["number"],
                "arm": r.get("arm") or record.ARM_SEARCH,
                "min": lo,
                "max": hi,
                "width": hi - lo,
                "value": float(r["values"][0]),
            }
        )
    n_points = len(points)
    keep = [p["number"] for p in points if p["arm"] != record.ARM_SEARCH]
    shown = set(pick([p["number"] for p in points], cap, seed, f"range:{name}", keep))
    marks = published_marks(points, rows, line)
    points = [p for p in points if p["number"] in shown]
    return {
        "param": name,
        "kind": "int" if e["type"] == "int_range" else "float",
        "low": low,
        "high": high,
        "min_width": w,
        "log": bool(e.get("log")),
        "metric": metric,
        "points": points,
        "sampled": sampled(n_points, len(points)),
        "published": [p["number"] for p in points if p["arm"] == record.ARM_PUBLISHED],
        "published_marks": marks,
        "impossible": impossible_polygon(low, high, w),
        "reason": None if points else "no completed trial has this range pair's values",
    }


def ranges(
    search: Sequence[Mapping[str, Any]] | None,
    rows: Sequence[Mapping[str, Any]],
    objectives: Sequence[Mapping[str, Any]],
    refs: Mapping[str, Any] | None = None,
    seed: int = 0,
    cap: int = MAX_POINTS,
) -> RangesInfo:
    """Every range pair's plane (see the module docstring); no pairs: an empty list.
    ``refs`` (:func:`reports.references.references`) gives the published line's mean."""
    metric = objectives[0]["name"] if objectives else None
    line = None
    if refs and refs.get("metric") == metric:
        line = next((r for r in refs.get("lines") or [] if r["arm"] == "published"), None)
    pairs = [range_pair(e, rows, metric, line, seed, cap) for e in range_entries(search)]
    return {"pairs": pairs}
