"""The study's answer (:mod:`sweep.answer`) and the analytic task with known noise and effect.

The error rates are measured by simulation: studies shaped like the engine's (a search of N
configurations on one seed each, the published arm, then the confirmation: the top k candidates
and the published configuration on common fresh seeds, 3 -> 5 -> 8 seeds while undecided), with
values from the analytic task's own ``run`` (per-seed Gaussian noise, a planted effect). The
rates are printed (visible without ``-s``).
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
from sweep.answer.statistics import anova, holm, mdd, paired, seeds_needed
from sweep.seeding import Seeds

TASK = AnalyticProxy()
#: the freq band over [0, 20] (min width 1): 210 configurations; the published one is [0, 20]
SPACE = [(lo, hi) for lo in range(21) for hi in range(lo + 1, 21)]
PUB = (0, 20)
#: the simulated design: search, candidates, confirmation rounds, noise
N, TOP, ROUNDS, SIGMA = 16, 3, (3, 5, 8), 1.0
#: the MDD at the cap (S = 8 seeds per arm): the planted effects are 3 of it
MDD_CAP = 2.8 * SIGMA * math.sqrt(2 / ROUNDS[-1])


def key(c) -> str:
    return json.dumps({"freq": list(c)}, sort_keys=True, separators=(",", ":"))


def evaluate(c, seed: int, options: dict) -> tuple[float, float]:
    """``(headline, scratch_headline)`` of band ``c`` on ``seed``: the task's own run."""
    res = TASK.run(TrialSpec(task="analytic", params={"freq1": list(c), "freq2": list(c)},
                             data_seed=seed, train_seed=seed, options=options))  # fmt: skip
    assert res.status == COMPLETE, res.message
    return res.metrics["headline"], res.metrics["scratch_headline"]


def rec(n: int, c, per_seed: dict, arm: str = "search", *, state: str = "COMPLETE",
        with_key: bool = True) -> record.TrialRecord:  # fmt: skip
    """A trial record as the engine writes it: ``per_seed`` is ``{seed: (value, scratch)}``."""
    ps = {str(s): {"headline": v, record.SCRATCH_METRIC: sc} for s, (v, sc) in per_seed.items()}
    mean = float(np.mean([v for v, _ in per_seed.values()])) if per_seed else 0.0
    attrs = {record.PER_SEED: ps, record.ARM: arm, record.SEEDS: sorted(per_seed),
             "headline": mean}  # fmt: skip
    if with_key:
        attrs[record.CONFIG_KEY] = key(c)
    return record.TrialRecord(number=n, state=state, values=(mean,), params={"freq": list(c)},
                              metrics={"headline": mean}, attrs=attrs)  # fmt: skip


def trial(n: int, c, seed: int, arm: str, options: dict) -> record.TrialRecord:
    return rec(n, c, {seed: evaluate(c, seed, options)}, arm)


def simulate(i: int, options: dict) -> dict:
    """One study (see the module docstring); returns its final answer."""
    rng = Seeds(2024).rng("study", i)
    base = 100_000 * (i + 1)  # the study's seeds: the search's, then fresh ones
    recs = [trial(n, SPACE[j], base, "search", options)
            for n, j in enumerate(rng.choice(len(SPACE), N, replace=False))]  # fmt: skip
    recs.append(trial(len(recs), PUB, base, "published", options))
    ranked = sorted((r for r in recs if r.arm == "search" and r.config_key != key(PUB)),
                    key=lambda r: -r.metrics["headline"])  # fmt: skip
    cands = [r.config_key for r in ranked[:TOP]]
    band = {r.config_key: tuple(r.params["freq"]) for r in recs}
    seeds: list[int] = []
    answer: dict = {}
    for look, n_seeds in enumerate(ROUNDS, 1):
        new = [base + s for s in range(len(seeds) + 1, n_seeds + 1)]
        for c in [*cands, key(PUB)]:
            recs += [trial(len(recs), band[c], s, "confirm", options) for s in new]
        seeds += new
        plan = {"seeds": seeds, "candidates": cands, "published": key(PUB), "top": TOP,
                "max_seeds": ROUNDS[-1], "looks": look}  # fmt: skip
        answer = compute_answer(recs, confirm=plan, study="sim")
        if answer["decided"]:
            break
    return answer


def rate(answers: list[dict], winner: str | None) -> float:
    hits = [a["verdict"] == "effect" and (winner is None or a["winner"] == winner)
            for a in answers]  # fmt: skip
    return sum(hits) / len(answers)


def show(capsys, text: str) -> None:
    with capsys.disabled():
        print(f"\n[error rate] {text}")


# ----------------------------------------------------------------------------- error rates
def test_null_studies_claim_an_effect_in_at_most_5_percent(capsys):
    answers = [simulate(i, {"noise": SIGMA, "effect": 0.0}) for i in range(200)]
    r = rate(answers, None)
    show(capsys, f"null (effect 0): false 'effect' in {r:.1%} of {len(answers)} studies "
                 f"(N={N}, k={TOP}, seeds {ROUNDS}, noise {SIGMA})")  # fmt: skip
    assert r <= 0.05
    assert {a["verdict"] for a in answers} <= {"effect", "no_detectable_effect"}


def test_a_planted_better_configuration_is_found_in_at_least_80_percent(capsys):
    answers = []
    for i in range(100):
        rng = Seeds(7).rng("optimum", i)
        band = [int(rng.integers(4, 8)), int(rng.integers(13, 17))]
        peak = {"freq1": band, "freq2": band}
        # effect 1 at the published band: its deficit to the optimum; scaled to 3 MDD
        deficit = 100.0 - evaluate(PUB, 0, {"optimum": peak})[0]
        opts = {"noise": SIGMA, "effect": 3 * MDD_CAP / deficit, "optimum": peak}
        answers.append(simulate(1000 + i, opts))
    r = rate(answers, "candidate")
    what = f"'effect' (a better candidate) in {r:.1%} of {len(answers)} studies"
    show(capsys, f"planted: optimum 3 MDD ({3 * MDD_CAP:.2f}) above the published: {what}")
    assert r >= 0.80
    assert rate(answers, "published") == 0.0


def test_a_planted_better_published_configuration_is_found_in_at_least_80_percent(capsys):
    # today's function: the published band is the optimum; its nearest neighbour is 3 MDD below
    deficit = 100.0 - evaluate((1, 20), 0, {})[0]
    opts = {"noise": SIGMA, "effect": 3 * MDD_CAP / deficit}
    answers = [simulate(2000 + i, opts) for i in range(100)]
    r = rate(answers, "published")
    show(capsys, f"planted: published 3 MDD above every other band: 'effect' (published "
                 f"better) in {r:.1%} of {len(answers)} studies")  # fmt: skip
    assert r >= 0.80
    assert rate(answers, "candidate") == 0.0


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
    one_way = {"a": {1: 1.0, 2: 2.0, 3: 3.5}, "b": {4: 2.0, 5: 4.0}, "c": {6: 5.0, 7: 6.5},
               "single": {8: 100.0}}  # fmt: skip
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
    assert mdd(1.0, 8) == pytest.approx(2.8 * math.sqrt(2 / 8))
    assert mdd(None, 8) is None
    s = seeds_needed(1.0, 0.7, 2.8)
    assert s is not None and mdd(1.0, s) < 0.7 <= mdd(1.0, s - 1)  # type: ignore[operator]


def test_the_looks_follow_the_engines_schedule():
    assert rounds(3, 8) == [3, 5, 8] and rounds(2, 8) == [2, 3, 5, 8]
    assert planned_looks(3, 1, 8) == (3, False)
    assert planned_looks(5, 2, 8) == (3, False)
    assert planned_looks(8, 3, 8) == (3, False)  # the same family at every look
    assert planned_looks(5, 1, 5) == (1, False)  # one round: no sequential looks
    assert planned_looks(4, 2, 8) == (4, True)  # no schedule fits: the cap's most looks
    plan = read_plan({"seeds": [1, 2, 3], "candidates": ["a"], "max_seeds": 8, "looks": 1,
                      "max_looks": 5})  # fmt: skip
    assert plan is not None and plan.looks == 5
    assert read_plan(None) is None and read_plan({"seeds": []}) is None


# ----------------------------------------------------------------------------- the answer
def confirmed(diffs=(3.0, 0.5, 0.0), seeds=(11, 12, 13, 14, 15), noise=0.3, published=True,
              scratch=50.0):  # fmt: skip
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
    plan = {"seeds": list(seeds), "candidates": [key(c) for c in bands],
            "published": key(PUB) if published else None, "top": 3, "max_seeds": len(seeds),
            "looks": 1}  # fmt: skip
    return recs, plan


def test_a_clear_winner_is_an_effect_with_its_numbers():
    recs, plan = confirmed()
    a = compute_answer(recs, confirm=plan, question="does a band beat [0, 20]?", study="freq")
    assert a["verdict"] == "effect" and a["winner"] == "candidate" and a["decided"]
    assert a["best"]["label"] == "[4, 18]" and a["best"]["trial"] == 0 and a["best"]["seeds"] == 5
    bvp = a["best_vs_published"]
    assert bvp["n"] == 5 and bvp["level"] == pytest.approx(1 - 0.05 / 3)
    assert bvp["ci"][0] > 0 and bvp["diff"] == pytest.approx(3.0, abs=0.6)
    assert a["best_vs_scratch"]["diff"] == pytest.approx(13.0, abs=0.6)
    assert a["omnibus"]["test"] == "anova_block" and a["omnibus"]["p"] < 0.05
    assert a["mdd"] == pytest.approx(2.8 * a["sigma_seed"] * math.sqrt(2 / 5))
    assert a["arms"] == {"confirm": 20, "published": 1, "search": 4} and a["trials"] == 25
    assert "sweep generate --from freq:0" in a["next"]
    line = answer_line(a)
    assert line.startswith("effect: [4, 18] beats the published [0, 20] by +")
    assert "98.3% CI [" in line and "5 fresh seeds" in line and "over scratch" in line
    assert a["verdict"] in VERDICTS and a["question"] == "does a band beat [0, 20]?"


def test_no_difference_is_no_detectable_effect_with_the_mdd_and_more_seeds_next():
    recs, plan = confirmed(diffs=(0.2, 0.1, 0.0), noise=1.0)
    a = compute_answer(recs, confirm=plan)
    assert a["verdict"] == "no_detectable_effect" and not a["decided"] and a["winner"] is None
    assert "ties for this proxy" in a["reason"]
    assert any("confirmation seeds per arm" in n for n in a["next"])
    assert any("higher fidelity" in n for n in a["next"])
    line = answer_line(a)
    assert line.startswith("no detectable effect: no configuration differs from the published "
                           "[0, 20] by more than the proxy's MDD of ")  # fmt: skip
    assert not any("larger than the spread of the search" in w for w in a["warnings"])
    # without the poor [7, 9] the search spans 0.2 points: less than a seed's noise
    b = compute_answer([r for r in recs if r.number != 3], confirm=plan)
    assert any("larger than the spread of the search" in w for w in b["warnings"])


def test_a_warning_when_pre_training_does_not_beat_scratch():
    recs, plan = confirmed(scratch=70.0)
    a = compute_answer(recs, confirm=plan)
    assert a["best_vs_scratch"]["ci"][1] < 0
    assert any(w.startswith("pre-training does not beat scratch") for w in a["warnings"])


def test_a_better_published_configuration_is_an_effect_the_other_way_and_minimize_flips():
    recs, plan = confirmed(diffs=(-3.0, -3.5, -4.0))
    a = compute_answer(recs, confirm=plan)
    assert a["verdict"] == "effect" and a["winner"] == "published"
    assert a["published_beats"] == "every" and a["best"]["label"] == "[4, 18]"
    assert answer_line(a).startswith("effect: the published [0, 20] beats every candidate")
    m = compute_answer(recs, confirm=plan, direction="minimize")  # lower is better now
    assert m["winner"] == "candidate" and m["best"]["label"] == "[5, 15]"
    assert "(lower is better)" in answer_line(m)
    with pytest.raises(ValueError):
        compute_answer(recs, confirm=plan, direction="up")


def test_a_noise_free_task_decides_on_exact_differences():
    recs, plan = confirmed(diffs=(1.0, 0.5, 0.2), noise=0.0)
    a = compute_answer(recs, confirm=plan)
    assert a["verdict"] == "effect" and a["best_vs_published"]["ci"] == pytest.approx([1.0, 1.0])
    json.dumps(a, allow_nan=False)  # an infinite F is stored as None


def test_insufficient_data_cases():
    assert compute_answer([])["verdict"] == "insufficient_data"
    recs, plan = confirmed()
    # no plan: the table's top is luck
    a = compute_answer(recs)
    assert a["verdict"] == "insufficient_data" and "common fresh seeds" in a["reason"]
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
    e = compute_answer([r for r in recs if not (r.arm == "confirm" and r.config_key == key(PUB))],
                       confirm=plan)  # fmt: skip
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
    study.set_user_attr(record.STUDY_CONFIG, {"objectives": objectives})
    study.set_user_attr(record.STUDY_QUESTION, "which band?")
    study.set_user_attr(record.STUDY_CONFIRM, plan)
    a = answer_of_study(study)
    assert a["study"] == study.study_name and a["question"] == "which band?"
    assert a["verdict"] == "effect" and a["best"]["params"] == {"freq": [4, 18]}
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


@pytest.mark.parametrize("options, text", [
    ({"nois": 1.0}, "unknown option"),
    ({"noise": -1.0}, "options.noise"),
    ({"effect": math.inf}, "options.effect"),
    ({"noise": True}, "options.noise"),
    ({"optimum": {"frq": [1, 2]}}, "options.optimum: frq"),
    ({"optimum": [1, 2]}, "options.optimum"),
])  # fmt: skip
def test_bad_analytic_options_fail_the_trial_on_one_line(options, text):
    res = TASK.run(TrialSpec(task="analytic", options=options))
    assert res.status == FAILED and res.error_type == "config"
    assert text in (res.message or "") and "\n" not in (res.message or "")


def test_a_pre_training_that_did_not_learn_is_a_warning():
    from sweep.answer import learning_warning

    def rec(n: int, loss: float) -> record.TrialRecord:
        attrs = {"pretrain_loss": loss, record.DATASET: {"classes": 64, "instances": 64}}
        return record.TrialRecord(number=n, state="COMPLETE", values=(50.0,), params={},
                                  metrics={}, attrs=attrs)  # fmt: skip

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
    plan = {"seeds": seeds, "candidates": [key(other)], "published": key(pub), "top": 1,
            "max_seeds": 4, "looks": 1}  # fmt: skip
    answer = compute_answer(recs, confirm=plan, study="s")
    assert any("published configuration does not beat scratch" in w for w in answer["warnings"])
    for i in range(2, len(recs), 2):  # now the published arm is 5 points over scratch
        seed = next(iter(recs[i].per_seed("headline")))
        recs[i] = rec(recs[i].number, pub, {seed: (55.0 + (-1) ** i * 0.1, 50.0)}, "confirm")
    answer = compute_answer(recs, confirm=plan, study="s")
    assert not any("does not beat scratch" in w for w in answer["warnings"])
