"""The confirmation: the search's best configurations and the published one, re-evaluated on
fresh seeds common to all of them after the search budget, with more seeds while undecided.

The best of k noisy configurations beats a reference by luck alone (the winner's curse); the
confirmation re-runs the winners on seeds the search never saw, all on the same seeds, so that
:mod:`sweep.answer` compares them pairwise (common random numbers). The rule:

* **candidates**: the ``top`` distinct configurations (``sweep:config_key``) of the COMPLETE
  search and reference trials (``sweep:arm`` search or reference), ranked by their mean of the
  first objective (the metric the answer judges, in its direction) over all their trials and
  seeds; and the published configuration (when the search can take it), always;
* **seeds**: fresh seeds drawn from the study's space hash (``Seeds(root).rng("confirm",
  "seeds")``, in ``[2**30, 2**31)``), never a seed that a search, published or reference trial
  ran; the first ``seeds`` of them, the same for every candidate;
* **cells**: one enqueued fixed trial per (configuration, seed) (``sweep:fixed`` with that seed,
  ``sweep:arm`` confirm; never pruned), run by the study's backend like the search. A cell with a
  COMPLETE, RUNNING or WAITING trial is never enqueued again, so ``sweep resume`` continues a
  confirmation where it stopped; a failed cell is enqueued again (once a run) as a retry;
* **looks** (a race): after each round the answer (:func:`sweep.answer.answer_of_study`, which
  corrects its intervals for every look the schedule allows) is looked at; while it is
  undecided at the study's smallest effect that matters (:func:`undecided`) and fewer than
  ``max_seeds`` seeds ran, the next round doubles the paired seeds,
  ``n -> min(max_seeds, max(n + 1, round(2 n)))`` (3, 6, 12, 24:
  :func:`sweep.answer.data.rounds`); ``max_seeds`` is the cost cap;
* **cost**: not part of the search budget. It runs by default when the space holds the
  published configuration (the race's reference) and the search budget is at least its first
  round (else it is skipped, and the launch says so up front); a ``confirm:`` section written in
  the file runs it whatever the budget, ``confirm: false`` never.

The plan is the study attribute ``sweep:confirm``: ``seeds``, ``candidates`` (configuration
keys), ``published`` (a key or null), ``top``, ``max_seeds``, ``looks``, and the bookkeeping
``status`` (running, decided, capped, stopped), ``search_trials`` (the COMPLETE search trials
the candidates were chosen from: a longer search chooses again) and ``params`` (each key's
Optuna raw parameters).

Imports: the standard library, Optuna (lazily), :mod:`sweep.record`, :mod:`sweep.seeding`,
:mod:`sweep.space` and :mod:`sweep.answer` (lazily).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from typing import Any

from sweep import record

#: the fresh seeds lie in [SEED_LOW, 2 * SEED_LOW): far above the search's replicate seeds
SEED_LOW = 2**30


def plan_cost(spec: Any, profile: str, budget: int) -> tuple[Any, str]:
    """``(confirm settings or None, the launch's line about it)``: what the confirmation will
    cost, or why it does not run (see the module docstring)."""
    conf = spec.confirm
    if conf is None:
        return None, "confirmation: off (confirm: false)"
    published, _ = spec.published(profile)
    n = conf.top + (1 if published is not None else 0)
    what = f"{conf.top} candidate{'s' if conf.top > 1 else ''}"
    what += " + published" if published is not None else ""
    first, most = n * conf.seeds, n * conf.max_seeds
    if not conf.explicit and published is None:
        return None, (
            "confirmation: skipped: the space holds no published configuration to "
            "race the candidates against; write confirm: {top: N} to run it "
            "anyway (the answer then compares the best with scratch only)"
        )
    if not conf.explicit and first > budget:
        return None, (
            f"confirmation: skipped: its {first} trials ({what} x {conf.seeds} fresh "
            f"seeds) exceed the search budget of {budget}; write confirm: {{top: "
            f"{conf.top}, seeds: {conf.seeds}}} to run it anyway"
        )
    return conf, (
        f"confirmation: {what} x {conf.seeds} fresh seeds = {first} trials, up to {most}"
    )


def undecided(answer: dict[str, Any] | None) -> bool:
    """Whether more paired seeds could decide the answer (its ``decided``, :mod:`sweep.answer`:
    a difference, equivalence or a negligible difference at the smallest effect that matters,
    or no published configuration to compare with)."""
    return not (answer or {}).get("decided")


# ----------------------------------------------------------------------------- the plan
def _search_trials(study) -> list:
    """The COMPLETE trials candidates come from: the search's and the file's references'
    (a reference, e.g. another family of a family study, can be the best configuration)."""

    def candidate_arm(arm: str) -> bool:  # search, or any reference:<name>
        return arm == record.ARM_SEARCH or arm.startswith(record.ARM_REFERENCE)

    trials = study.get_trials(deepcopy=False)
    done = [t for t in trials if t.state.name == "COMPLETE"]
    return [t for t in done if candidate_arm(record.arm_of(t.user_attrs))]


def top_candidates(trials: Iterable[Any], k: int, spec: Any, exclude: str | None) -> list:
    """``[(config key, raw params)]`` of the ``k`` best configurations of ``trials`` by their
    mean first objective (every seed of every trial), ``exclude`` left out."""
    from sweep.engine.arms import trial_config_key

    trials = list(trials)
    metric, direction = spec.objectives[0]  # the metric the answer judges, in its direction
    by: dict[str, list[float]] = {}
    raw: dict[str, dict] = {}
    for t in trials:
        key = trial_config_key(t)
        per_seed = record.TrialRecord.from_trial(t).per_seed(metric)
        values = list(per_seed.values()) or [t.user_attrs.get(metric)]
        values = [float(v) for v in values if isinstance(v, int | float)]
        if key is None or key == exclude or not values:
            continue
        by.setdefault(key, []).extend(values)
        raw.setdefault(key, dict(t.params))
    sign = -1.0 if direction == "maximize" else 1.0
    ranked = sorted(by, key=lambda c: (sign * sum(by[c]) / len(by[c]), c))
    return [(c, raw[c]) for c in ranked[:k]]


def fresh_seeds(study, n: int) -> list[int]:
    """``n`` fresh seeds of the study (see the module docstring), in draw order."""
    from sweep.seeding import Seeds

    used: set[int] = set()
    for t in study.get_trials(deepcopy=False):
        if record.arm_of(t.user_attrs) != record.ARM_CONFIRM:
            used.update(int(s) for s in t.user_attrs.get(record.SEEDS) or ())
    text = str(study.user_attrs.get(record.STUDY_HASH) or study.study_name)
    root = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)
    rng = Seeds(root).rng("confirm", "seeds")
    out: list[int] = []
    while len(out) < n:
        s = int(rng.integers(SEED_LOW, 2 * SEED_LOW))
        if s not in used and s not in out:
            out.append(s)
    return out


def prepare(study, spec: Any, profile: str, conf: Any) -> dict[str, Any] | None:
    """The stored plan, or a new one (candidates chosen again after a longer search); None
    when there is nothing to confirm."""
    from sweep.space import values_from_params

    stored = dict(study.user_attrs.get(record.STUDY_CONFIRM) or {})
    search = _search_trials(study)
    same = (
        stored.get("search_trials") == len(search)
        and stored.get("top") == conf.top
        and stored.get("max_seeds") == conf.max_seeds
    )
    if same:
        plan = stored
    else:
        published, _ = spec.published(profile)
        pub_key = None
        params: dict[str, dict] = {}
        if published is not None:
            pub_key = record.config_key(values_from_params(spec, published.raw))
            params[pub_key] = dict(published.raw)
        cands = top_candidates(search, conf.top, spec, pub_key)
        params.update(dict(cands))
        plan = {
            "seeds": list(stored.get("seeds") or fresh_seeds(study, conf.seeds)),
            "candidates": [c for c, _ in cands],
            "published": pub_key,
            "top": conf.top,
            "max_seeds": conf.max_seeds,
            "looks": int(stored.get("looks") or 0),
            "status": "running",
            "search_trials": len(search),
            "params": params,
        }
    if not plan["candidates"] and plan["published"] is None:
        return None
    study.set_user_attr(record.STUDY_CONFIRM, plan)
    return plan


def configs(plan: dict[str, Any]) -> list[str]:
    """The configuration keys the plan confirms: the candidates, then the published one."""
    out = list(plan["candidates"])
    if plan.get("published") and plan["published"] not in out:
        out.append(plan["published"])
    return out


def cells(study) -> dict[tuple[str, int], list]:
    """The confirmation's trials by (configuration key, seed)."""
    out: dict[tuple[str, int], list] = {}
    for t in study.get_trials(deepcopy=False):
        if record.arm_of(t.user_attrs) != record.ARM_CONFIRM:
            continue
        seeds = (t.user_attrs.get(record.FIXED) or {}).get(record.FIXED_SEEDS) or [None]
        out.setdefault((t.user_attrs.get(record.CONFIG_KEY), seeds[0]), []).append(t)
    return out


def enqueue_missing(study, plan: dict[str, Any], tried: set) -> int:
    """Enqueue every cell of the plan that has no COMPLETE, RUNNING or WAITING trial (a failed
    one: once per run, ``tried``); returns how many."""
    by = cells(study)
    retried = record.retried_numbers(study.get_trials(deepcopy=False))
    n = 0
    for key in configs(plan):
        for seed in plan["seeds"]:
            trials = by.get((key, seed), [])
            if any(t.state.name in ("COMPLETE", "RUNNING", "WAITING") for t in trials):
                continue
            if (key, seed) in tried:
                continue
            tried.add((key, seed))
            fixed = record.fixed_value([seed], {record.ARM: record.ARM_CONFIRM})
            attrs: dict[str, Any] = {
                record.ARM: record.ARM_CONFIRM,
                record.CONFIG_KEY: key,
                record.FIXED: fixed,
            }
            failed = [t.number for t in trials if t.number not in retried]
            if failed:
                attrs[record.RETRY_OF] = failed[-1]
            study.enqueue_trial(dict(plan["params"][key]), user_attrs=attrs, skip_if_exists=False)
            n += 1
    return n


def waiting(study) -> int:
    return sum(
        t.state.name == "WAITING" and record.arm_of(t.user_attrs) == record.ARM_CONFIRM
        for t in study.get_trials(deepcopy=False)
    )


# ----------------------------------------------------------------------------- running
def run_confirmation(
    study, spec: Any, profile: str, conf: Any, run_round: Callable[[int], None]
) -> dict[str, Any] | None:
    """Run the confirmation (see the module docstring) through ``run_round(n)``, which runs
    ``n`` enqueued trials on the study's backend; returns the stored plan."""
    from sweep.answer import answer_of_study
    from sweep.answer.data import next_seeds

    plan = prepare(study, spec, profile, conf)
    if plan is None:
        return None
    tried: set = set()
    while True:
        if study.user_attrs.get(record.STUDY_STOP):
            plan["status"] = "stopped"
            break
        new = enqueue_missing(study, plan, tried)
        if not new and plan["status"] in ("decided", "capped") and not waiting(study):
            return plan  # a confirmation that ended before: nothing left to run or look at
        plan["status"] = "running"
        study.set_user_attr(record.STUDY_CONFIRM, plan)
        if n := waiting(study):
            run_round(n)
        if study.user_attrs.get(record.STUDY_STOP):
            plan["status"] = "stopped"
            break
        plan["looks"] += 1
        study.set_user_attr(record.STUDY_CONFIRM, plan)
        if not undecided(answer_of_study(study)):
            plan["status"] = "decided"
            break
        n_seeds = len(plan["seeds"])
        if n_seeds >= conf.max_seeds:
            plan["status"] = "capped"
            break
        pool = fresh_seeds(study, conf.max_seeds + n_seeds)
        extra = [s for s in pool if s not in plan["seeds"]]
        grow = next_seeds(n_seeds, conf.max_seeds) - n_seeds
        plan["seeds"] = plan["seeds"] + extra[:grow]
    study.set_user_attr(record.STUDY_CONFIRM, plan)
    return plan
