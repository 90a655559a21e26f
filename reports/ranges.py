"""Range pairs: each searched ``int_range``/``float_range`` parameter on its (min, max) plane.

A range pair ``freq = [min, max]`` is searched through Optuna's ``freq.min`` and ``freq.span``
(:mod:`sweep.space`); the report names it by its resolved values, ``freq.min`` and ``freq.max``,
and explains ``span`` once (:func:`span_note`, on the page and in the dashboard note).
:func:`ranges` gives, per range pair, every completed trial's resolved ``(min, max)``, its band
width ``max - min`` and its first-objective value (a trial's mean over its seeds), its arm (the
published configuration marked), and the impossible half of the plane (``max < min +
min_width``) as a polygon inside ``[low, high]^2``.

Imports: the standard library and :mod:`sweep.record`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

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


class RangePair(TypedDict):
    param: str
    kind: str  # "int" | "float"
    low: float
    high: float
    min_width: float
    log: bool
    metric: str | None
    points: list[RangePoint]
    published: list[int]  # trial numbers of the published arm among the points
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


def range_pair(
    e: Mapping[str, Any], rows: Sequence[Mapping[str, Any]], metric: str | None
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
    return {
        "param": name,
        "kind": "int" if e["type"] == "int_range" else "float",
        "low": low,
        "high": high,
        "min_width": w,
        "log": bool(e.get("log")),
        "metric": metric,
        "points": points,
        "published": [p["number"] for p in points if p["arm"] == record.ARM_PUBLISHED],
        "impossible": impossible_polygon(low, high, w),
        "reason": None if points else "no completed trial has this range pair's values",
    }


def ranges(
    search: Sequence[Mapping[str, Any]] | None,
    rows: Sequence[Mapping[str, Any]],
    objectives: Sequence[Mapping[str, Any]],
) -> RangesInfo:
    """Every range pair's plane (see the module docstring); no pairs: an empty list."""
    metric = objectives[0]["name"] if objectives else None
    pairs = [range_pair(e, rows, metric) for e in range_entries(search)]
    return {"pairs": pairs}
