"""The *view* study: an in-memory Optuna study of the report's data, and its importances.

Optuna's plots and importance evaluators work on a study; the view's parameters are the
resolved searched values (``freq.min``, ``freq.max``) instead of Optuna's internal encoding of
range pairs (``freq.span``), and trial ``n`` of the view is trial ``n`` of the study.

Importances need a null: fANOVA on a few noisy points always ranks something first.
:func:`importances` refits fANOVA on the objective values permuted across the trials
(:data:`N_PERMUTATIONS` times, seeded; at most :data:`MAX_NULL_TRIALS` trials, a seeded subsample
beyond that, said so) and gives each parameter's importance next to the null's 95th percentile;
below it, the parameter is not distinguishable from noise. The comparison is on fANOVA's raw
importances (the share of the objective's variance a parameter's main effect explains): the
normalised ones always sum to 1, even on noise.

fANOVA's cost grows faster than the trials (about 3 s for 200 trials of 4 searched values, 100
s for 2,000, on 2 cores), so the importances are fitted ONCE per objective (the normalised ones
are the raw ones over their sum) on at most :data:`MAX_IMPORTANCE_TRIALS` completed trials, a
seeded subsample beyond that (said so, :func:`subsample`), and each permutation of the null with
:data:`NULL_TREES` trees instead of Optuna's 64: a noisier estimate of the same quantity, so a
wider null (the test is conservative).

Imports: the standard library, numpy, Optuna (lazily), :mod:`sweep.seeding` and
:mod:`reports.study`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypedDict

import numpy as np

from reports.study import Column, Objective, choice
from sweep.seeding import Seeds

#: permutations of the objective values for the importances' null, and the null's quantile
N_PERMUTATIONS = 30
NULL_QUANTILE = 0.95
#: the null is fitted on at most this many trials (a seeded subsample beyond: fANOVA's cost)
MAX_NULL_TRIALS = 200
#: the importances are fitted on at most this many completed trials (a seeded subsample beyond)
MAX_IMPORTANCE_TRIALS = 400
#: trees of each permutation's fANOVA (Optuna's default, the observed fit's, is 64)
NULL_TREES = 16


class NullInfo(TypedDict):
    permutations: int
    quantile: float
    trials: int  # the trials the null was fitted on
    of: int  # the completed trials
    note: str | None  # the cap, when it applied
    trees: int  # fANOVA's trees in each permutation's fit


class FitInfo(TypedDict):
    trials: int  # the completed trials the importances were fitted on
    of: int  # the completed trials
    note: str | None  # the cap, when it applied


class ImportancesInfo(TypedDict):
    by_objective: dict[str, dict[str, float]]  # objective -> {column: importance}, sum 1
    raw: dict[str, dict[str, float]]  # objective -> {column: share of variance}
    null: dict[str, dict[str, float]]  # objective -> {column: the null's quantile of raw}
    noise: dict[str, list[str]]  # objective -> columns not distinguishable from noise
    null_info: NullInfo | None
    fit: FitInfo | None
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


def view_study(data: Mapping[str, Any], shown: Collection[int] | None = None):
    """An in-memory Optuna study of the report's data whose parameters are the resolved
    searched values: trial ``n`` of the view is trial ``n`` of the study (trials that cannot be
    shown, running or without searched values, are FAIL placeholders; so are the trials not in
    ``shown``, when given: a figure's sample, :func:`reports.figures.sampled_view`)."""
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
        if (
            not ok
            or (state == TrialState.COMPLETE and not r["values"])
            or (shown is not None and r["number"] not in shown)
        ):
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


def subsample(view, max_trials: int, seed: int, key: str) -> tuple[Any, int]:
    """``(study, completed trials of view)``: ``view`` itself when it has at most
    ``max_trials`` completed trials, else an in-memory study of a seeded random
    ``max_trials`` of them (the same ones every run: ``Seeds(seed).rng("report", key)``)."""
    import optuna
    from optuna.trial import TrialState

    done = view.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if len(done) <= max_trials:
        return view, len(done)
    rng = Seeds(seed).rng("report", key, "subsample")
    keep = sorted(rng.choice(len(done), size=max_trials, replace=False))
    study = optuna.create_study(directions=view.directions)
    study.add_trials([done[k] for k in keep])
    return study, len(done)


def importances(
    view,
    columns: list[Column],
    objectives: list[Objective],
    seed: int,
    n_perm: int = N_PERMUTATIONS,
    max_trials: int = MAX_NULL_TRIALS,
    max_fit: int = MAX_IMPORTANCE_TRIALS,
) -> ImportancesInfo:
    """fANOVA importances of the resolved searched values per objective, each next to its
    permutation null (see the module docstring), or why not."""
    from optuna.importance import get_param_importances
    from optuna.trial import TrialState

    done = view.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    out: ImportancesInfo = {
        "by_objective": {},
        "raw": {},
        "null": {},
        "noise": {},
        "null_info": None,
        "fit": None,
        "reason": None,
    }
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
    fitted, n_done = subsample(view, max_fit, seed, "importance")
    n_fit = min(n_done, max_fit)
    out["fit"] = {
        "trials": n_fit,
        "of": n_done,
        "note": None
        if n_fit == n_done
        else (
            f"the importances were fitted on a random {n_fit:,} of the {n_done:,} completed "
            "trials (seeded: the same ones every run; fANOVA's cost grows faster than the "
            "trials)"
        ),
    }
    for i, o in enumerate(objectives):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                raw = get_param_importances(
                    fitted,
                    evaluator=evaluator(seed, i),
                    target=objective_value(i),
                    normalize=False,
                )
        except (ValueError, RuntimeError) as e:
            out["reason"] = f"Optuna could not compute importances: {e}"
            return out
        total = sum(raw.values())
        ranked = sorted(raw.items(), key=lambda kv: -kv[1])
        out["raw"][o["name"]] = {k: float(v) for k, v in ranked}
        out["by_objective"][o["name"]] = {
            k: float(v / total) if total > 0 else 1.0 / len(ranked) for k, v in ranked
        }
    try:
        null, info = permutation_null(view, objectives, seed, n_perm, max_trials)
    except (ValueError, RuntimeError) as e:  # pragma: no cover - the observed fit worked
        why = f"the null could not be fitted: {e}"
        out["null_info"] = {
            "permutations": 0,
            "quantile": NULL_QUANTILE,
            "trials": 0,
            "of": len(done),
            "note": why,
            "trees": NULL_TREES,
        }
        return out
    out["null"], out["null_info"] = null, info
    out["noise"] = {
        name: [k for k, v in out["raw"][name].items() if v <= null[name].get(k, 0.0)]
        for name in out["raw"]
    }
    return out


def permutation_null(
    view, objectives: list[Objective], seed: int, n_perm: int, max_trials: int
) -> tuple[dict[str, dict[str, float]], NullInfo]:
    """``{objective: {column: quantile}}``: the :data:`NULL_QUANTILE` quantile of each
    column's raw fANOVA importance over ``n_perm`` fits on objective values permuted across
    the completed trials (seeded), and what it was fitted on."""
    from optuna.importance import get_param_importances
    from optuna.trial import TrialState

    study, n_done = subsample(view, max_trials, seed, "importance-null")
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    seeds = Seeds(seed)
    note = None
    if n_done > max_trials:
        note = (
            f"the null was fitted on a random {max_trials:,} of the {n_done:,} completed trials "
            "(a cap for speed; on fewer trials the null is wider, so the test is conservative)"
        )
    null: dict[str, dict[str, float]] = {}
    for i, o in enumerate(objectives):
        values = np.array([t.values[i] for t in done], dtype=float)
        numbers = [t.number for t in done]
        rng = seeds.rng("report", "importance-null", i)
        fits: dict[str, list[float]] = {}
        for k in range(n_perm):
            permuted = dict(zip(numbers, rng.permutation(values).tolist(), strict=True))
            ev = evaluator_null(seed, i, k)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                raw = get_param_importances(
                    study, evaluator=ev, target=by_number(permuted), normalize=False
                )
            for name, v in raw.items():
                fits.setdefault(name, []).append(float(v))
        null[o["name"]] = {name: float(np.quantile(v, NULL_QUANTILE)) for name, v in fits.items()}
    info: NullInfo = {
        "permutations": n_perm,
        "quantile": NULL_QUANTILE,
        "trials": len(done),
        "of": n_done,
        "note": note,
        "trees": NULL_TREES,
    }
    return null, info


def by_number(values: Mapping[int, float]) -> Callable[[Any], float]:
    """A target that reads a trial's value from ``values`` by its number."""
    return lambda t: values[t.number]


def evaluator_null(seed: int, i: int, k: int):
    """The seeded fANOVA evaluator of permutation ``k`` of objective ``i``'s null."""
    from optuna.importance import FanovaImportanceEvaluator

    return FanovaImportanceEvaluator(
        n_trees=NULL_TREES, seed=Seeds(seed).key32("report", "importance-null", i, k)
    )


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
