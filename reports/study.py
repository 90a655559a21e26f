"""Reading a study for the report: objectives, searched-value columns, trial rows, the summary.

Everything the page shows is plain data (dicts and lists, typed here as ``TypedDict``s) so that
the tests can check it and the page can embed it as JSON. A trial is read once, through
:class:`sweep.record.TrialRecord`; a range pair ``freq = [min, max]`` becomes the two columns
``freq.min`` and ``freq.max`` (the resolved searched values, not Optuna's internal encoding).

Imports: the standard library, :mod:`sweep.record`, :mod:`sweep.storage`, :mod:`sweep.values`;
Optuna lazily.
"""

from __future__ import annotations

import json
import re
from typing import Any, TypedDict

from sweep import record
from sweep.record import TrialRecord
from sweep.storage import mask_url
from sweep.values import is_number


class Objective(TypedDict):
    name: str
    direction: str  # "minimize" | "maximize"


class Column(TypedDict):
    """One resolved searched value: ``name`` is the column, ``param`` the searched parameter,
    ``index`` 0/1 for the min/max of a range pair (None otherwise)."""

    param: str
    name: str
    index: int | None
    kind: str  # "int" | "float" | "categorical" | another search type
    low: Any
    high: Any
    log: bool
    choices: list | None


class TrialRow(TypedDict):
    number: int
    state: str
    values: list[float] | None
    params: dict[str, Any]
    metrics: dict[str, float]
    seeds: list[int] | None
    start: str | None
    duration_s: float | None
    error_type: str | None
    error: str | None
    retry_of: int | None
    worker: str | None
    device: str | None
    fingerprint: str | None
    intermediate: dict[int, float]
    view: dict[str, Any] | None  # {column: value}; None when a searched value is missing
    arm: str  # search, published, confirm or reference:<name> (sweep.record.ARM)


class Summary(TypedDict):
    name: str
    question: str | None
    objectives: list[Objective]
    counts: dict[str, int]
    n_trials: int
    generator: str | None
    generator_version: Any
    fixed_params: dict[str, Any] | None
    search: list[dict[str, Any]] | None
    task: str | None
    recipe: dict[str, Any] | None
    profile: str | None
    seeds: list[int] | None
    sampler: dict[str, Any] | None
    pruner: dict[str, Any] | None
    budget: dict[str, Any] | None
    versions: dict[str, str] | None
    git_commit: str | None
    file: str | None
    file_text: str | None
    storage: str | None
    first_start: str | None
    last_complete: str | None
    trial_hours: float
    sweep_study: bool


# ----------------------------------------------------------------------------- masking
def mask_text(text: str) -> str:
    """``text`` with the password of every URL in it masked."""
    return re.sub(r"\S+://\S+", lambda m: mask_url(m.group()), text)


def mask(obj: Any) -> Any:
    """``obj`` (JSON data) with every URL in its strings masked."""
    if isinstance(obj, str):
        return mask_text(obj)
    if isinstance(obj, dict):
        return {k: mask(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [mask(v) for v in obj]
    return obj


# ----------------------------------------------------------------------------- columns
def objectives(study) -> list[Objective]:
    names = list(study.metric_names or [])
    dirs = [d.name.lower() for d in study.directions]
    if len(names) != len(dirs):
        names = ["value"] if len(dirs) == 1 else [f"value {i}" for i in range(len(dirs))]
    return [{"name": n, "direction": d} for n, d in zip(names, dirs, strict=True)]


def _column(param: str, name: str, index: int | None, kind: str, low, high, log, choices):
    col: Column = {
        "param": param,
        "name": name,
        "index": index,
        "kind": kind,
        "low": low,
        "high": high,
        "log": bool(log),
        "choices": choices,
    }
    return col


def param_columns(study, trials) -> list[Column]:
    """Columns of the resolved searched values, from the study's stored config; Optuna's own
    parameters (of the raw ``trials``) when the study was not made by ``sweep launch``."""
    search = (study.user_attrs.get(record.STUDY_CONFIG) or {}).get("search")
    cols: list[Column] = []
    if search:
        for e in search:
            name, typ = e["name"], e["type"]
            bounds = (e.get("low"), e.get("high"), e.get("log"), e.get("choices"))
            if typ in ("int_range", "float_range"):
                kind = "int" if typ == "int_range" else "float"
                for i, suffix in enumerate(("min", "max")):
                    cols.append(_column(name, f"{name}.{suffix}", i, kind, *bounds))
            else:
                cols.append(_column(name, name, None, typ, *bounds))
        return cols
    from optuna.distributions import CategoricalDistribution, IntDistribution

    seen: dict[str, Any] = {}
    for t in trials:
        for k, d in t.distributions.items():
            seen.setdefault(k, d)
    for k, d in seen.items():
        if isinstance(d, CategoricalDistribution):
            cols.append(_column(k, k, None, "categorical", None, None, False, list(d.choices)))
        else:
            kind = "int" if isinstance(d, IntDistribution) else "float"
            cols.append(_column(k, k, None, kind, d.low, d.high, d.log, None))
    return cols


def choice(v: Any) -> Any:
    """A categorical value Optuna can store (None, bool, int, float, str)."""
    return v if v is None or isinstance(v, bool | int | float | str) else json.dumps(v)


def view_values(params: dict[str, Any], cols: list[Column]) -> dict[str, Any] | None:
    """``{column: value}`` of a trial's resolved searched values; None when one is missing."""
    out = {}
    for c in cols:
        if c["param"] not in params:
            return None
        v = params[c["param"]]
        if c["index"] is not None:
            if not isinstance(v, list | tuple) or len(v) != 2:
                return None
            v = v[c["index"]]
        if c["kind"] == "categorical":
            v = choice(v)
        elif not is_number(v):
            return None
        elif c["kind"] == "int":
            v = int(v)
        else:
            v = float(v)
        out[c["name"]] = v
    return out


# ----------------------------------------------------------------------------- trials
def trial_row(r: TrialRecord, cols: list[Column]) -> TrialRow:
    """The report's row of one trial (finite metrics only)."""
    start = r.datetime_start.isoformat(timespec="seconds") if r.datetime_start else None
    row: TrialRow = {
        "number": r.number,
        "state": r.state,
        "values": list(r.values) if r.values is not None else None,
        "params": dict(r.params),
        "metrics": {k: v for k, v in r.metrics.items() if is_number(v)},
        "seeds": r.seeds,
        "start": start,
        "duration_s": r.duration_s,
        "error_type": r.error_type,
        "error": r.error,
        "retry_of": r.retry_of,
        "worker": r.worker,
        "device": r.device,
        "fingerprint": r.fingerprint,
        "intermediate": dict(r.intermediate),
        "view": None,
        "arm": r.arm,
    }
    row["view"] = view_values(row["params"], cols)
    return row


def ranked(rows: list[TrialRow], objectives: list[Objective]) -> list[TrialRow]:
    """Completed trials, best first by the first objective."""
    done = [r for r in rows if r["state"] == "COMPLETE" and r["values"]]
    sign = -1 if objectives and objectives[0]["direction"] == "maximize" else 1

    def key(r: TrialRow) -> tuple[float, int]:
        return (r["values"] or [0.0])[0] * sign, r["number"]

    return sorted(done, key=key)


def best(study, rows: list[TrialRow], objectives: list[Objective]) -> list[int]:
    """The best 5 trials' numbers; the Pareto set for several objectives."""
    if len(objectives) > 1:
        try:
            return sorted(t.number for t in study.best_trials)
        except (ValueError, RuntimeError):
            return []
    return [r["number"] for r in ranked(rows, objectives)[:5]]


# ----------------------------------------------------------------------------- the summary
def summary(study, recs: list[TrialRecord], rows: list[TrialRow], objectives) -> Summary:
    """The study-level facts: question, counts, generator, search, proxy, seeds, budget, time,
    storage (password masked), file, commit, versions."""
    a = study.user_attrs
    cfg = mask(a.get(record.STUDY_CONFIG) or {})
    starts = [r.datetime_start for r in recs if r.datetime_start]
    ends = [r.datetime_complete for r in recs if r.datetime_complete]
    busy = sum(r["duration_s"] or 0.0 for r in rows)
    storage = getattr(study._storage, "url", None) or cfg.get("storage")
    gen, proxy = cfg.get("generator", {}), cfg.get("proxy", {})
    return {
        "name": study.study_name,
        "question": a.get(record.STUDY_QUESTION) or cfg.get("question"),
        "objectives": objectives,
        "counts": record.counts(study.get_trials(deepcopy=False)),
        "n_trials": len(rows),
        "generator": gen.get("name"),
        "generator_version": gen.get("version"),
        "fixed_params": gen.get("params"),
        "search": cfg.get("search"),
        "task": proxy.get("task"),
        "recipe": proxy.get("resolved"),
        "profile": a.get(record.STUDY_PROFILE),
        "seeds": cfg.get("seeds"),
        "sampler": cfg.get("sampler"),
        "pruner": cfg.get("pruner"),
        "budget": a.get(record.STUDY_BUDGET),
        "versions": a.get(record.STUDY_VERSIONS),
        "git_commit": a.get(record.STUDY_GIT),
        "file": a.get(record.STUDY_FILE),
        "file_text": mask_text(a.get(record.STUDY_FILE_TEXT) or "") or None,
        "storage": mask_url(str(storage)) if storage else None,
        "first_start": min(starts).isoformat(timespec="seconds") if starts else None,
        "last_complete": max(ends).isoformat(timespec="seconds") if ends else None,
        "trial_hours": busy / 3600.0,
        "sweep_study": record.STUDY_CONFIG in a,
    }
