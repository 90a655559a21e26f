"""The study's answer (:mod:`sweep.answer`), the paired statistics (:mod:`sweep.paired`) and the
analytic task with known noise and effect.

The error rates are measured by simulation (:mod:`sweep.simulation`): studies shaped like
the engine's (a search of 16 bands on one seed each, the published arm and a planted optimum,
then the race: the top 2 candidates and the published band on common fresh seeds, 3 -> 6 -> 12
-> 24 while undecided), with values from the analytic task's own ``run`` (per-seed noise, a
per-seed term shared by the arms, a planted effect). The rates are printed (visible without
``-s``); benchmarks/decisions.py runs more studies and prints the README's table.
"""

from __future__ import annotations

import json
import math

import numpy as np
import optuna
import pytest
from scipy import stats

from proxy_tasks.analytic import AnalyticProxy
from proxy_tasks.spec import COMPLETE, FAILED, TrialSpec
from sweep import record
from sweep.answer import VERDICTS, answer_line, answer_of_study, compute_answer
from sweep.answer.data import collect, planned_looks, read_plan, rounds
from sweep.paired import (
    anova,
    arm_noise,
    decide,
    holm,
    mdd,
    paired,
    power_factor,
    seeds_for_mdd,
    seeds_needed,
)
from sweep.simulation import Design, scenario

TASK = AnalyticProxy()
#: the freq band over [0, 20] (min width 1): 210 configurations; the published one is [0, 20]
SPACE = [(lo, hi) for lo in range(21) for hi in range(lo + 1, 21)]
PUB = (0, 20)
#: the design point: the paired SD whose adjusted MDD at the cap (24 seeds, 2 candidates, 4
#: looks) is the smallest effect (1 point)
DESIGN = Design(delta=1.0, sd_paired=1.25, correlation=0.85)


def key(c) -> str:
    return json.dumps({"freq": list(c)}, sort_keys=True, separators=(",", ":"))


def evaluate(c, seed: int, options: dict) -> tuple[float, float]:
    """``(headline, scratch_headline)`` of band ``c`` on ``seed``: the task's own run."""
    res = TASK.run(
        TrialSpec(
            task="analytic",
            params={"freq1": list(c), "freq2": list(c)},
            data_seed=seed,
            train_seed=seed,
            options=options,
        )
    )
    assert res.status == COMPLETE, res.message
    return res.metrics["headline"], res.metrics["scratch_headline"]


def rec(
    n: int,
    c,
    per_seed: dict,
    arm: str = "search",
    *,
    state: str = "COMPLETE",
    with_key: bool = True,
) -> record.TrialRecord:
    """A trial record as the engine writes it: ``per_seed`` is ``{seed: (value, scratch)}``."""
    ps = {str(s): {"headline": v, record.SCRATCH_METRIC: sc} for s, (v, sc) in per_seed.items()}
    mean = float(np.mean([v for v, _ in per_seed.values()])) if per_seed else 0.0
    attrs = {
        record.PER_SEED: ps,
        record.ARM: arm,
        record.SEEDS: sorted(per_seed),
        "headline": mean,
    }
    if with_key:
        attrs[record.CONFIG_KEY] = key(c)
    return record.TrialRecord(
        number=n,
        state=state,
        values=(mean,),
        params={"freq": list(c)},
        metrics={"headline": mean},
        attrs=attrs,
    )


def show(capsys, text: str) -> None:
    with capsys.disabled():
        print(f"\n[error rate] {text}")


# ----------------------------------------------------------------------------- error rates
def test_null_studies_claim_a_difference_in_at_most_5_percent_and_mostly_decide(capsys):
    r = scenario(DESIGN, 0.0, 200)
    show(
        capsys,
        f"null: false 'difference' in {r['false_difference']['rate']:.1%} of "
        f"{r['studies']} studies; verdicts {r['verdicts']}, {r['mean_seeds']:.1f} "
        f"paired seeds on average ({DESIGN.as_dict()})",
    )
    assert r["false_difference"]["studies"] == 200 and r["false_difference"]["rate"] <= 0.05
    assert r["verdicts"]["equivalent"] >= 0.5  # the race decides most null studies


def test_twice_the_smallest_effect_is_never_called_equivalent(capsys):
    r = scenario(DESIGN, 2.0 * DESIGN.delta, 150, offset=1000)
    fe = r["false_equivalence"]
    show(
        capsys,
        f"true difference 2 delta: false equivalence in {fe['rate']:.1%} of "
        f"{fe['studies']} studies; verdicts {r['verdicts']}",
    )
    assert fe["studies"] >= 30 and fe["rate"] <= 0.05


def test_power_at_the_design_point_is_at_least_80_percent(capsys):
    r = scenario(DESIGN, DESIGN.delta * 1.0, 200, offset=2000)
    pw = r["power"]
    show(
        capsys,
        f"true difference delta: 'difference' the right way in {pw['rate']:.1%} of "
        f"{pw['studies']} studies whose confirmed best is delta or more above the "
        f"published; verdicts {r['verdicts']}",
    )
    assert pw["studies"] >= 20 and pw["rate"] >= 0.80


# ----------------------------------------------------------------------------- statistics
def test_paired_intervals_match_scipy():
    a = {1: 10.0, 2: 12.5, 3: 11.0, 4: 13.0, 5: 9.5}
    b = {1: 9.0, 2: 11.0, 3: 11.5, 4: 11.0, 5: 9.0, 6: 99.0}
    out = paired(a, b, [1, 2, 3, 4, 5, 6], 0.99)
    x, y = [a[s] for s in range(1, 6)], [b[s] for s in range(1, 6)]
    ref = stats.ttest_rel(x, y)
    assert out is not None and out["n"] == 5
    assert out["diff"] == pytest.approx(np.mean(np.subtract(x, y)))
    assert out["p"] == pytest.approx(ref.pvalue)
    assert out["ci"] == pytest.approx(list(ref.confidence_interval(0.99)))
    assert out["ci95"] == pytest.approx(list(ref.confidence_interval(0.95)))
    assert paired(a, b, [1], 0.95) is None  # one seed: no interval
    const = paired({1: 3.0, 2: 4.0}, {1: 1.0, 2: 2.0}, [1, 2], 0.95)
    assert const is not None and const["ci"] == [2.0, 2.0] and const["p"] == 0.0


def test_the_omnibus_matches_scipy_one_way_and_a_regression_for_blocks():
    one_way = {
        "a": {1: 1.0, 2: 2.0, 3: 3.5},
        "b": {4: 2.0, 5: 4.0},
        "c": {6: 5.0, 7: 6.5},
        "single": {8: 100.0},
    }
    out = anova(one_way, None)
    ref = stats.f_oneway([1.0, 2.0, 3.5], [2.0, 4.0], [5.0, 6.5])
    assert out["test"] == "anova" and out["configs"] == 3
    assert out["f"] == pytest.approx(ref.statistic) and out["p"] == pytest.approx(ref.pvalue)
    assert 0 <= out["icc"] <= 1
    # complete blocks: F of config against the residual of config + seed (least squares)
    rng = np.random.default_rng(1)
    y = rng.normal(size=(3, 4)) + np.array([0.0, 1.0, 2.0])[:, None] + rng.normal(size=4)
    blocks = {f"c{i}": {s: float(y[i, s]) for s in range(4)} for i in range(3)}
    out = anova(blocks, [0, 1, 2, 3])
    ci, sj = np.meshgrid(range(3), range(4), indexing="ij")

    def rss(*factors):
        x = np.column_stack([np.ones(12)] + [np.eye(n)[f.ravel()][:, 1:] for f, n in factors])
        r = y.ravel() - x @ np.linalg.lstsq(x, y.ravel(), rcond=None)[0]
        return float(r @ r)

    full, reduced = rss((ci, 3), (sj, 4)), rss((sj, 4))
    f = ((reduced - full) / 2) / (full / 6)
    assert out["test"] == "anova_block" and out["df"] == [2, 6]
    assert out["f"] == pytest.approx(f) and out["p"] == pytest.approx(stats.f.sf(f, 2, 6))
    assert anova({"a": {1: 1.0, 2: 2.0}}, None)["test"] is None  # one configuration


def test_holm_mdd_and_seeds_needed_on_hand_examples():
    assert holm([0.01, 0.04, 0.03], 3) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.01], 3) == pytest.approx([0.03])
    assert mdd(1.0, 8) == pytest.approx(2.8 / math.sqrt(8))  # paired: sd of the differences
    assert mdd(None, 8) is None
    s = seeds_needed(1.0, 0.7, 2.8)
    assert s is not None and mdd(1.0, s) <= 0.7 < mdd(1.0, s - 1)  # type: ignore[operator]
    assert seeds_for_mdd(1.73, 1.0) == 24 and seeds_for_mdd(0.88, 1.0) == 7  # precision.md
    assert seeds_for_mdd(0.1, 1.0) == 2
    with pytest.raises(ValueError):
        seeds_for_mdd(1.0, 0.0)


@pytest.mark.parametrize(
    "ci, decision",
    [
        ((0.2, 1.8), "difference"),
        ((-2.5, -0.1), "difference"),
        ((1.2, 2.0), "difference"),
        ((0.1, 0.8), "negligible"),
        ((-0.9, -0.2), "negligible"),
        ((-0.5, 0.9), "equivalent"),
        ((0.0, 0.3), "equivalent"),
        ((-0.5, 1.2), "undecided"),
        ((-1.5, 1.5), "undecided"),
        ((-1.0, 0.5), "undecided"),
    ],
)
def test_the_four_decisions_at_the_smallest_effect(ci, decision):
    assert decide(ci, 1.0) == decision


def test_arm_noise_pools_the_paired_differences_against_the_reference():
    rng = np.random.default_rng(3)
    shared = rng.normal(0, 3.0, 40)  # a lucky seed lifts every arm
    vals = {
        name: {s: float(shared[s] + off + rng.normal(0, 0.5)) for s in range(40)}
        for name, off in (("pub", 0.0), ("a", 1.0), ("b", -1.0))
    }
    n = arm_noise(vals, "pub", list(range(40)))
    d = [np.subtract(list(vals[k].values()), list(vals["pub"].values())) for k in ("a", "b")]
    assert n["sd_paired"] == pytest.approx(math.sqrt((d[0].var(ddof=1) + d[1].var(ddof=1)) / 2))
    assert 0.5 < n["sd_paired"] < 1.0 and n["sigma_seed"] > 2.5 and n["correlation"] > 0.9
    assert n["pairs"] == 2 and n["seeds"] == 40
    assert arm_noise(vals, "pub", [0])["sd_paired"] is None  # one seed: nothing to pool
    assert power_factor(0.05) == pytest.approx(1.95996 + 0.84162, abs=1e-4)


def test_the_looks_follow_the_engines_schedule():
    assert rounds(3, 24) == [3, 6, 12, 24] and rounds(3, 8) == [3, 6, 8]
    assert rounds(2, 8) == [2, 4, 8]
    assert planned_looks(3, 1, 8) == (3, False)
    assert planned_looks(6, 2, 8) == (3, False)
    assert planned_looks(8, 3, 8) == (3, False)  # the same family at every look
    assert planned_looks(12, 3, 24) == (4, False)
    assert planned_looks(5, 1, 5) == (1, False)  # one round: no sequential looks
    assert planned_looks(5, 2, 8) == (3, True)  # no schedule fits: the cap's most looks
    plan = read_plan(
        {"seeds": [1, 2, 3], "candidates": ["a"], "max_seeds": 8, "looks": 1, "max_looks": 5}
    )
    assert plan is not None and plan.looks == 5
    assert read_plan(None) is None and read_plan({"seeds": []}) is None


# ----------------------------------------------------------------------------- the answer
def confirmed(
    diffs=(3.0, 0.5, 0.0), seeds=(11, 12, 13, 14, 15), noise=0.3, published=True, scratch=50.0
):
    """Search trials on seed 1, then candidates a, b, c and the published band on ``seeds``;
    candidate i is ``diffs[i]`` above the published band."""
    rng = np.random.default_rng(5)
    bands = [(4, 18), (2, 19), (5, 15)]
    pairs = list(zip(bands, diffs, strict=True))
    recs = [rec(i, c, {1: (60.0 + d, 50.0)}) for i, (c, d) in enumerate(pairs)]
    recs.append(rec(3, (7, 9), {1: (40.0, 50.0)}))
    if published:
        recs.append(rec(4, PUB, {1: (60.0, 50.0)}, "published"))
    todo = pairs + ([(PUB, 0.0)] if published else [])
    for c, d in todo:
        for s in seeds:
            v = 60.0 + d + s * 0.1 + noise * rng.standard_normal()
            recs.append(rec(len(recs), c, {s: (v, scratch + s * 0.1)}, "confirm"))
    plan = {
        "seeds": list(seeds),
        "candidates": [key(c) for c in bands],
        "published": key(PUB) if published else None,
        "top": 3,
        "max_seeds": len(seeds),
        "looks": 1,
    }
    return recs, plan


def test_a_clear_winner_is_a_difference_with_its_numbers():
    recs, plan = confirmed()
    a = compute_answer(recs, confirm=plan, question="does a band beat [0, 20]?", study="freq")
    assert a["verdict"] == "difference" and a["winner"] == "candidate" and a["decided"]
    assert a["best"]["label"] == "[4, 18]" and a["best"]["trial"] == 0 and a["best"]["seeds"] == 5
    bvp = a["best_vs_published"]
    assert bvp["n"] == 5 and bvp["level"] == pytest.approx(1 - 0.05 / 3)
    assert bvp["ci"][0] > 0 and bvp["diff"] == pytest.approx(3.0, abs=0.6)
    assert a["best_vs_scratch"]["diff"] == pytest.approx(13.0, abs=0.6)
    assert a["omnibus"]["test"] == "anova_block" and a["omnibus"]["p"] < 0.05
    # the MDD is paired: the SD of the differences to the published arm, not sigma * sqrt(2)
    assert a["mdd"] == pytest.approx(2.8 * a["sd_paired"] / math.sqrt(5))
    assert a["smallest_effect"] == 1.0 and a["correlation"] is not None
    assert a["arms"] == {"confirm": 20, "published": 1, "search": 4} and a["trials"] == 25
    assert "sweep generate --from freq:0" in a["next"]
    line = answer_line(a)
    assert line.startswith("difference: [4, 18] beats the published [0, 20] by +")
    assert "98.3% CI [" in line and "5 paired seeds" in line and "over scratch" in line
    assert a["verdict"] in VERDICTS and a["question"] == "does a band beat [0, 20]?"


def test_a_wide_interval_is_undecided_with_the_paired_seeds_that_would_decide():
    recs, plan = confirmed(diffs=(0.2, 0.1, 0.0), noise=1.0)
    a = compute_answer(recs, confirm=plan)
    assert a["verdict"] == "undecided" and not a["decided"] and a["winner"] is None
    need = a["seeds_to_decide"]
    assert need == seeds_for_mdd(a["sd_paired"], 1.0, power_factor(0.05 / 3)) and need > 5
    assert any(f"about {need} paired seeds per arm" in n for n in a["next"])
    assert not any("higher fidelity" in n for n in a["next"])  # longer training adds noise
    line = answer_line(a)
    assert line.startswith("undecided: the best ") and f"about {need} paired seeds" in line
    assert not any("larger than the spread of the search" in w for w in a["warnings"])
    # without the poor [7, 9] the search spans 0.2 points: less than a seed's noise
    b = compute_answer([r for r in recs if r.number != 3], confirm=plan)
    assert any("larger than the spread of the search" in w for w in b["warnings"])


def test_a_tight_interval_inside_the_smallest_effect_is_equivalent_or_negligible():
    recs, plan = confirmed(diffs=(0.0, -0.1, -0.2), noise=0.2)
    a = compute_answer(recs, confirm=plan)
    assert a["verdict"] == "equivalent" and a["decided"] and a["winner"] is None
    assert a["reason"].startswith("nothing beats the published [0, 20] by 1.00 points or more")
    assert answer_line(a).startswith("equivalent: nothing beats the published [0, 20] by 1.")
    recs, plan = confirmed(diffs=(0.4, 0.3, 0.2), noise=0.02)
    b = compute_answer(recs, confirm=plan)
    assert b["verdict"] == "negligible" and b["decided"] and b["winner"] == "candidate"
    assert answer_line(b).startswith("negligible: [4, 18] differs from the published")
    # the same data at a smallest effect of 0.1 point: a difference
    c = compute_answer(recs, confirm=plan, smallest_effect=0.1)
    assert c["verdict"] == "difference" and c["smallest_effect"] == 0.1
    with pytest.raises(ValueError):
        compute_answer(recs, confirm=plan, smallest_effect=0.0)


def test_shared_replicate_seeds_stand_in_for_a_confirmation():
    """A design of references on common seeds (paper_freq.yaml) is compared without a plan:
    every other configuration is a candidate, one look."""
    rng = np.random.default_rng(2)
    rows = {PUB: 0.0, (0, 40): 2.0, (0, 60): 0.2, (10, 20): -0.1}
    recs = []
    for c, d in rows.items():
        per = {s: (55.0 + d + 0.5 * s + 0.2 * rng.standard_normal(), 50.0) for s in range(6)}
        recs.append(rec(len(recs), c, per, "published" if c == PUB else "reference:x"))
    a = compute_answer(recs)  # no confirm plan
    assert a["verdict"] == "difference" and a["winner"] == "candidate"
    assert a["best"]["label"] == "[0, 40]" and a["confirm"]["k"] == 3
    assert a["best_vs_published"]["n"] == 6 and a["confirm"]["looks"] == 1
    # one seed each: nothing to pair, the old insufficient data
    one = [
        rec(i, c, {0: (55.0 + d, 50.0)}, "published" if c == PUB else "reference:x")
        for i, (c, d) in enumerate(rows.items())
    ]
    assert compute_answer(one)["verdict"] == "insufficient_data"


def test_a_warning_when_pre_training_does_not_beat_scratch():
    recs, plan = confirmed(scratch=70.0)
    a = compute_answer(recs, confirm=plan)
    assert a["best_vs_scratch"]["ci"][1] < 0
    assert any(w.startswith("pre-training does not beat scratch") for w in a["warnings"])


def test_a_better_published_configuration_is_a_difference_the_other_way_and_minimize_flips():
    recs, plan = confirmed(diffs=(-3.0, -3.5, -4.0))
    a = compute_answer(recs, confirm=plan)
    assert a["verdict"] == "difference" and a["winner"] == "published"
    assert a["published_beats"] == "every" and a["best"]["label"] == "[4, 18]"
    assert answer_line(a).startswith("difference: the published [0, 20] beats every candidate")
    m = compute_answer(recs, confirm=plan, direction="minimize")  # lower is better now
    assert m["winner"] == "candidate" and m["best"]["label"] == "[5, 15]"
    assert "(lower is better)" in answer_line(m)
    with pytest.raises(ValueError):
        compute_answer(recs, confirm=plan, direction="up")


def test_a_noise_free_task_decides_on_exact_differences():
    recs, plan = confirmed(diffs=(1.0, 0.5, 0.2), noise=0.0)
    a = compute_answer(recs, confirm=plan)
    assert a["verdict"] == "difference"
    assert a["best_vs_published"]["ci"] == pytest.approx([1.0, 1.0])
    json.dumps(a, allow_nan=False)  # an infinite F is stored as None
    # a noiseless 0.5 is real but below a smallest effect of 2: negligible, not an "effect"
    b = compute_answer(recs, confirm=plan, smallest_effect=2.0)
    assert b["verdict"] == "negligible"


def test_insufficient_data_cases():
    assert compute_answer([])["verdict"] == "insufficient_data"
    recs, plan = confirmed()
    # no plan and no shared seeds (the search's one-seed trials): the table's top is luck
    a = compute_answer(recs[:5])
    assert a["verdict"] == "insufficient_data" and "common fresh seeds" in a["reason"]
    # (with the confirmation's trials but no plan, their shared seeds stand in for it)
    assert compute_answer(recs)["verdict"] == "difference"
    assert answer_line(a).startswith("insufficient data: no configuration was re-evaluated")
    # no published configuration: the best against scratch only, and more seeds do not help
    recs_np, plan_np = confirmed(published=False)
    b = compute_answer(recs_np, confirm=plan_np)
    assert b["verdict"] == "insufficient_data" and "against scratch" in b["reason"]
    assert b["best_vs_scratch"] is not None and b["best_vs_published"] is None and b["decided"]
    # one common seed
    c = compute_answer(recs, confirm={**plan, "seeds": [11, 99]})
    assert c["verdict"] == "insufficient_data"
    # candidates never confirmed
    d = compute_answer(recs[:5], confirm=plan)
    assert d["verdict"] == "insufficient_data" and "no candidate" in d["reason"]
    # the published configuration not run on the confirmation seeds
    e = compute_answer(
        [r for r in recs if not (r.arm == "confirm" and r.config_key == key(PUB))], confirm=plan
    )
    assert e["verdict"] == "insufficient_data" and "published configuration" in e["reason"]
    for x in (a, b, c, d, e):
        json.dumps(x, allow_nan=False)


def test_exact_repeats_and_failed_trials():
    recs = [
        rec(0, (1, 5), {1: (50.0, 49.0)}),
        rec(1, (1, 5), {1: (50.0, 49.0)}),  # an exact repeat
        rec(2, (1, 5), {2: (51.0, 49.5)}),  # same configuration, new seed: a replicate
        rec(3, (2, 5), {1: (52.0, 49.0)}, with_key=False),  # the key from params
        rec(4, (2, 5), {1: (52.0, 49.0)}),  # an exact repeat, found through the fallback key
        rec(5, (3, 5), {1: (10.0, 49.0)}, state="FAIL"),  # not counted
    ]
    data = collect(recs, "headline")
    assert data.complete == 5 and data.repeats == 2
    assert data.values[key((1, 5))] == {1: 50.0, 2: 51.0}
    a = compute_answer(recs)
    assert a["exact_repeats"] == {"trials": 2, "fraction": pytest.approx(0.4)}
    assert any("exact repeats" in w for w in a["warnings"])


def test_answer_of_study_reads_the_objective_question_and_plan():
    recs, plan = confirmed()
    study = optuna.create_study(direction="maximize")
    for r in recs:
        attrs = {**r.attrs, "param:freq": r.params["freq"]}
        study.add_trial(optuna.trial.create_trial(value=r.values[0], user_attrs=attrs))
    objectives = [{"metric": "headline", "direction": "maximize"}]
    study.set_user_attr(record.STUDY_CONFIG, {"objectives": objectives, "smallest_effect": 5.0})
    study.set_user_attr(record.STUDY_QUESTION, "which band?")
    study.set_user_attr(record.STUDY_CONFIRM, plan)
    a = answer_of_study(study)
    assert a["study"] == study.study_name and a["question"] == "which band?"
    assert a["smallest_effect"] == 5.0  # the study file's, read from the stored config
    assert a["verdict"] == "negligible" and a["best"]["params"] == {"freq": [4, 18]}
    assert f"sweep generate --from {study.study_name}:0" in a["next"]
    json.dumps(a, allow_nan=False)


# ----------------------------------------------------------------------------- analytic task
def test_the_analytic_task_is_todays_function_by_default():
    spec = TrialSpec(task="analytic", params={"freq1": [4, 18]})
    res = TASK.run(spec)
    assert res.status == COMPLETE
    base = 100.0 / (1.0 + 100.0 * res.metrics["penalty"])
    assert res.metrics["headline"] == base and res.metrics["scratch_headline"] == 50.0
    assert res.metrics["gain_headline"] == base - 50.0
    assert TASK.run(TrialSpec(task="analytic")).metrics["headline"] == 100.0


def test_the_analytic_noise_is_keyed_by_configuration_and_seed():
    def h(c, seed, **opts):
        return evaluate(c, seed, {"noise": 1.0, **opts})

    assert h((4, 18), 3) == h((4, 18), 3)  # same (configuration, seed): same numbers
    assert h((4, 18), 3)[0] != h((4, 18), 4)[0] and h((4, 18), 3)[0] != h((5, 18), 3)[0]
    assert h((4, 18), 3)[1] == h((5, 18), 3)[1]  # scratch: one value per seed
    vals = np.array([h(c, s, effect=0.0)[0] for c in SPACE[:20] for s in range(10)])
    assert abs(vals.mean() - 100.0) < 0.3 and 0.8 < vals.std() < 1.2  # effect 0: all equal


@pytest.mark.parametrize(
    "options, text",
    [
        ({"nois": 1.0}, "unknown option"),
        ({"noise": -1.0}, "options.noise"),
        ({"effect": math.inf}, "options.effect"),
        ({"noise": True}, "options.noise"),
        ({"optimum": {"frq": [1, 2]}}, "options.optimum: frq"),
        ({"optimum": [1, 2]}, "options.optimum"),
    ],
)
def test_bad_analytic_options_fail_the_trial_on_one_line(options, text):
    res = TASK.run(TrialSpec(task="analytic", options=options))
    assert res.status == FAILED and res.error_type == "config"
    assert text in (res.message or "") and "\n" not in (res.message or "")


def test_a_pre_training_that_did_not_learn_is_a_warning():
    from sweep.answer import learning_warning

    def rec(n: int, loss: float) -> record.TrialRecord:
        attrs = {"pretrain_loss": loss, record.DATASET: {"classes": 64, "instances": 64}}
        return record.TrialRecord(
            number=n, state="COMPLETE", values=(50.0,), params={}, metrics={}, attrs=attrs
        )

    chance = math.log(64)  # 4.16: the cpu preset's 3.82 is 92% of it
    warn = learning_warning([rec(0, 3.82), rec(1, 3.84)])
    assert warn is not None and "barely learned" in warn and "92%" in warn
    assert learning_warning([rec(0, 0.5 * chance)]) is None  # it learned
    assert learning_warning([]) is None  # nothing to say (the analytic task has no loss)


def test_a_published_configuration_that_does_not_beat_scratch_is_a_warning():
    # Issue 13, item 6: when pre-training at the published configuration does not beat the
    # model without pre-training, the proxy cannot rank pre-training data; say so first.
    seeds = [7, 8, 9, 10]
    pub, other = (0, 20), (3, 9)
    recs = [rec(0, pub, {1: (50.0, 50.0)}, "published"), rec(1, other, {1: (51.0, 50.0)})]
    for i, s in enumerate(seeds):  # published ~ scratch, per seed
        recs.append(rec(2 + 2 * i, pub, {s: (50.0 + (-1) ** i, 50.0)}, "confirm"))
        recs.append(rec(3 + 2 * i, other, {s: (50.5 + (-1) ** i, 50.0)}, "confirm"))
    plan = {
        "seeds": seeds,
        "candidates": [key(other)],
        "published": key(pub),
        "top": 1,
        "max_seeds": 4,
        "looks": 1,
    }
    answer = compute_answer(recs, confirm=plan, study="s")
    assert any("published configuration does not beat scratch" in w for w in answer["warnings"])
    for i in range(2, len(recs), 2):  # now the published arm is 5 points over scratch
        seed = next(iter(recs[i].per_seed("headline")))
        recs[i] = rec(recs[i].number, pub, {seed: (55.0 + (-1) ** i * 0.1, 50.0)}, "confirm")
    answer = compute_answer(recs, confirm=plan, study="s")
    assert not any("does not beat scratch" in w for w in answer["warnings"])
