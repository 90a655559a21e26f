"""The *view* study: an in-memory Optuna study of the report's data, and its importances.

Optuna's plots and importance evaluators work on a study; the view's parameters are the
resolved searched values (``freq.min``, ``freq.max``) instead of Optuna's internal encoding of
range pairs (``freq.span``), and trial ``n`` of the view is trial ``n`` of the study.

Imports: the standard library, Optuna (lazily), :mod:`sweep.seeding` and :mod:`reports.study`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypedDict

from reports.study import Column, Objective, choice
from sweep.seeding import Seeds


class ImportancesInfo(TypedDict):
    by_objective: dict[str, dict[str, float]]  # objective -> {column: importance}
    reason: str | None


def distribution(c: Column, values: list):
    """The Optuna distribution of a column, wide enough for every value it took."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    if c["kind"] == "categorical":
        choices = [choice(v) for v in (c["choices"] or [])]
        for v in values:
            if v not in choices:
                choices.append(v)
        return CategoricalDistribution(choices or [None])
    nums = [v for v in values if v is not None]
    lo = min([x for x in (c["low"], *nums) if x is not None], default=0)
    hi = max([x for x in (c["high"], *nums) if x is not None], default=lo)
    log = bool(c["log"]) and lo > 0
    if c["kind"] == "int":
        return IntDistribution(math.floor(lo), math.ceil(hi), log=log)
    return FloatDistribution(float(lo), float(hi), log=log)


def view_study(data: Mapping[str, Any]):
    """An in-memory Optuna study of the report's data whose parameters are the resolved
    searched values: trial ``n`` of the view is trial ``n`` of the study (trials that cannot be
    shown, running or without searched values, are FAIL placeholders)."""
    import optuna
    from optuna.trial import TrialState, create_trial

    objectives = data["objectives"]
    study = optuna.create_study(directions=[o["direction"] for o in objectives] or None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        study.set_metric_names([o["name"] for o in objectives])
    cols = data["columns"]
    dists = {
        c["name"]: distribution(c, [r["view"][c["name"]] for r in data["trials"] if r["view"]])
        for c in cols
    }
    made = []
    for r in data["trials"]:
        state = TrialState[r["state"]]
        ok = r["view"] is not None and state in (
            TrialState.COMPLETE,
            TrialState.PRUNED,
            TrialState.FAIL,
        )
        if not ok or (state == TrialState.COMPLETE and not r["values"]):
            made.append(create_trial(state=TrialState.FAIL))
            continue
        made.append(
            create_trial(
                state=state,
                params=r["view"],
                distributions=dists,
                values=r["values"] if state == TrialState.COMPLETE else None,
                intermediate_values=r["intermediate"],
                user_attrs={"number": r["number"]},
            )
        )
    study.add_trials(made)
    return study


def objective_value(i: int) -> Callable[[Any], float]:
    """Objective ``i`` of a trial (Optuna's ``target`` argument)."""
    return lambda t: t.values[i]


def evaluator(seed: int, i: int):
    """The seeded fANOVA evaluator of objective ``i``."""
    from optuna.importance import FanovaImportanceEvaluator

    return FanovaImportanceEvaluator(seed=Seeds(seed).key32("report", "importance", i))


def importances(
    view, columns: list[Column], objectives: list[Objective], seed: int
) -> ImportancesInfo:
    """fANOVA importances of the resolved searched values per objective, or why not."""
    from optuna.importance import get_param_importances
    from optuna.trial import TrialState

    done = view.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    out: ImportancesInfo = {"by_objective": {}, "reason": None}
    varying = [c["name"] for c in columns if len({t.params.get(c["name"]) for t in done}) > 1]
    if len(done) < 2:
        out["reason"] = (
            f"{len(done)} completed trial{'s' if len(done) != 1 else ''} with "
            "searched values: importances need at least 2"
        )
        return out
    if not varying:
        out["reason"] = "every completed trial has the same searched values"
        return out
    for i, o in enumerate(objectives):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                imp = get_param_importances(
                    view, evaluator=evaluator(seed, i), target=objective_value(i)
                )
        except (ValueError, RuntimeError) as e:
            out["reason"] = f"Optuna could not compute importances: {e}"
            return out
        out["by_objective"][o["name"]] = {k: float(v) for k, v in imp.items()}
    return out


@contextmanager
def quiet_optuna() -> Iterator[None]:
    """Optuna's logging at WARNING inside, restored after."""
    import optuna

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(verbosity)
