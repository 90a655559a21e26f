"""The data of a study's answer: per-seed values by configuration, and the confirmation plan.

:func:`collect` turns the COMPLETE trials of every arm into ``{configuration: {seed: value}}``,
the scratch value of each seed, the arms of each configuration and the count of exact repeats;
:func:`read_plan` reads the engine's confirmation plan (``record.STUDY_CONFIRM``). The verdict
vocabulary lives here too, so every module of the package reads it from one place.

Imports: the standard library, :mod:`sweep.record`, :mod:`sweep.values`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sweep import record
from sweep.values import is_int, jsonable

#: the verdicts: the four decisions of :func:`sweep.paired.decide` on the confirmed best against
#: the published configuration at the smallest effect that matters, and insufficient data
VERDICTS = ("difference", "equivalent", "negligible", "undecided", "insufficient_data")
DIFFERENCE, EQUIVALENT, NEGLIGIBLE, UNDECIDED, INSUFFICIENT = VERDICTS
#: the verdicts more paired seeds cannot change
DECIDED = (DIFFERENCE, EQUIVALENT, NEGLIGIBLE)
#: the confirmation plan's keys (``record.STUDY_CONFIRM``, written by ``sweep.engine.confirm``):
#: ``looks`` are the looks made so far; ``max_looks`` (not written by the engine yet) the looks
#: its schedule allows in all
PLAN_SEEDS, PLAN_CANDIDATES, PLAN_PUBLISHED = "seeds", "candidates", "published"
PLAN_MAX_SEEDS, PLAN_LOOKS, PLAN_MAX_LOOKS = "max_seeds", "looks", "max_looks"
#: the confirmation's growth of its paired seeds per round: 3 -> 6 -> 12 -> 24 (few looks, so
#: the Bonferroni split over looks costs little); the engine's schedule is :func:`rounds`
GROWTH = 2.0


# ----------------------------------------------------------------------------- the data
@dataclass
class StudyData:
    """Per-seed values of the complete trials, by configuration (see the module doc)."""

    values: dict[str, dict[int, float]] = field(default_factory=dict)
    trials: dict[str, list[record.TrialRecord]] = field(default_factory=dict)
    arms: dict[str, set[str]] = field(default_factory=dict)  # configuration -> its arms
    scratch: dict[int, float] = field(default_factory=dict)
    search: dict[str, list[float]] = field(default_factory=dict)  # the search arm's values
    arm_counts: dict[str, int] = field(default_factory=dict)
    complete: int = 0
    repeats: int = 0


def mean_of(values: Iterable[float]) -> float:
    """The mean of a few numbers (plain Python: numpy's overhead dominates small lists)."""
    vals = values if isinstance(values, list) else list(values)
    return vals[0] if len(vals) == 1 else sum(vals) / len(vals)


def canonical(params: Mapping[str, Any]) -> str:
    """The canonical JSON of a configuration's parameters (the fallback configuration key)."""
    return json.dumps(jsonable(dict(params)), sort_keys=True, separators=(",", ":"))


def scratch_metric(metric: str) -> str:
    """The scratch baseline's name of ``metric`` (``scratch_headline`` for the headline)."""
    return record.scratch_attr(metric)


def collect(records: Sequence[record.TrialRecord], metric: str) -> StudyData:
    """``{configuration: {seed: value}}``, scratch per seed, arms and exact repeats."""
    sums: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    scratch: dict[int, list[float]] = defaultdict(list)
    out = StudyData()
    seen: set[tuple[str, tuple[int, ...]]] = set()
    for r in sorted(records, key=lambda r: r.number):
        if not r.complete:
            continue
        out.complete += 1
        out.arm_counts[r.arm] = out.arm_counts.get(r.arm, 0) + 1
        key = r.config_key or canonical(r.params)
        vals = r.per_seed(metric)
        seeds = r.seeds or []
        if not vals and len(seeds) == 1 and r.metric(metric) is not None:
            vals = {int(seeds[0]): float(r.metric(metric) or 0.0)}  # one seed: its value
        sig = (key, tuple(sorted(vals) or sorted(int(s) for s in seeds)))
        out.repeats += sig in seen
        seen.add(sig)
        out.trials.setdefault(key, []).append(r)
        out.arms.setdefault(key, set()).add(r.arm)
        for s, v in vals.items():
            sums[key][s].append(v)
        if r.arm == record.ARM_SEARCH:
            out.search.setdefault(key, []).extend(vals.values())
        for s, v in r.per_seed(scratch_metric(metric)).items():
            scratch[s].append(v)
    out.values = {k: {s: mean_of(v) for s, v in d.items()} for k, d in sums.items()}
    out.scratch = {s: mean_of(v) for s, v in scratch.items()}
    return out


def label(params: Mapping[str, Any], key: str) -> str:
    """A configuration as a reader writes it: ``[4, 18]`` for one parameter, else
    ``a=[4, 18], b=2``; the key when no parameters are stored."""
    if not params:
        return key
    vals = {k: json.dumps(jsonable(v)).replace('"', "") for k, v in params.items()}
    return (
        next(iter(vals.values()))
        if len(vals) == 1
        else ", ".join(f"{k}={v}" for k, v in vals.items())
    )


# ----------------------------------------------------------------------------- the plan
def next_seeds(n: int, cap: int) -> int:
    """The paired seeds of the confirmation's round after one of ``n``."""
    return min(cap, max(n + 1, round(GROWTH * n)))


def rounds(first: int, cap: int) -> list[int]:
    """Seeds per round of the confirmation (``n -> min(cap, max(n + 1, round(2 n)))``), from
    ``first`` seeds: ``rounds(3, 24)`` is ``[3, 6, 12, 24]``; the engine's schedule
    (:mod:`sweep.engine.confirm`) and the answer's count of looks both read it."""
    out = [min(first, cap)]
    while out[-1] < cap:
        out.append(next_seeds(out[-1], cap))
    return out


def planned_looks(n_seeds: int, looks: int, cap: int | None) -> tuple[int, bool]:
    """``(looks, assumed)``: how many looks the confirmation may make in all, those with >= 2
    seeds (a look with fewer cannot find an effect). The first round is the smallest one whose
    schedule has ``n_seeds`` at look ``looks``; when none fits, 2 seeds (the most looks the
    cap allows) and ``assumed``. Without a cap: the looks made."""
    looks = max(1, looks)  # 0: the first look is being made
    if cap is None or (cap <= n_seeds and looks == 1):
        return looks, False
    for first in range(2, n_seeds + 1):
        sched = rounds(first, cap)
        if looks >= 1 and len(sched) >= looks and sched[looks - 1] == n_seeds:
            return len(sched), False
    return max(looks, len(rounds(2, cap))), True


@dataclass
class Plan:
    """The confirmation plan as this package reads it (see ``record.STUDY_CONFIRM``)."""

    seeds: list[int]
    candidates: list[str]
    published: str | None
    max_seeds: int | None
    looks: int  # the looks of the whole confirmation (the family the alpha is split over)
    looks_assumed: bool


def read_plan(confirm: Mapping[str, Any] | None) -> Plan | None:
    """The plan, or None without common seeds; ``looks`` from ``max_looks`` when stored, else
    from :func:`planned_looks`."""
    if not confirm or not confirm.get(PLAN_SEEDS):
        return None
    seeds = [int(s) for s in confirm[PLAN_SEEDS]]
    cap_v, made, most = (confirm.get(k) for k in (PLAN_MAX_SEEDS, PLAN_LOOKS, PLAN_MAX_LOOKS))
    cap = int(cap_v) if is_int(cap_v) and cap_v >= 1 else None
    if is_int(most) and most >= 1:
        looks, assumed = int(most), False
    else:
        looks, assumed = planned_looks(len(seeds), made if is_int(made) else 0, cap)
    pub = confirm.get(PLAN_PUBLISHED)
    return Plan(
        seeds=seeds,
        candidates=[str(c) for c in confirm.get(PLAN_CANDIDATES) or []],
        published=str(pub) if pub else None,
        max_seeds=cap,
        looks=looks,
        looks_assumed=assumed,
    )
