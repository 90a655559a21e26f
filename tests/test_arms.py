"""A study's arms and its answer: per-seed values and configuration keys, replicates instead of
exact repeats, the published and reference arms, the confirmation on fresh common seeds (its cost
said up front, resumed after a kill), the stored answer and ``sweep status --json``. All on the
free ``analytic`` proxy with seed noise, so a study takes seconds."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

#: real launches, workers or trainings: the full suite only (the fast tier: -m "not slow")
pytestmark = pytest.mark.slow

STUDY = """\
study: {study}
question: Does a wider band help (arms test)?
generator: {{name: visualatom}}
search:
  freq: {{type: int_range, low: 0, high: {high}, min_width: 1, targets: [freq1, freq2]}}
proxy: {{task: analytic, profile: cpu, options: {{noise: 1.0}}}}
seeds: {seeds}
objectives: [{{headline: maximize}}]
sampler: {sampler}
budget: {{trials: {trials}, workers: {workers}}}
storage: {storage}
{extra}"""


def write(
    tmp_path: Path,
    *,
    study="arms",
    trials=6,
    seeds="[0]",
    high=20,
    sampler="tpe",
    workers=2,
    extra="confirm: false\n",
) -> Path:
    f = tmp_path / f"{study}.yaml"
    f.write_text(
        STUDY.format(
            study=study,
            trials=trials,
            seeds=seeds,
            high=high,
            sampler=sampler,
            workers=workers,
            extra=extra,
            storage=tmp_path / "studies.db",
        )
    )
    return f


def launch(space: Path, **kw):
    from sweep.engine import run

    return run(str(space), device="cpu", progress=False, quiet=True, cache_dir=None, **kw)


def load(tmp_path: Path, study="arms"):
    from sweep.storage import make_storage

    url = str(tmp_path / "studies.db")
    return optuna.load_study(study_name=study, storage=make_storage(url, heartbeat=False))


def cli(capfd, *args) -> tuple[int, str, str]:
    """The CLI in this process (its worker processes write to the same file descriptors)."""
    from sweep.cli import main

    capfd.readouterr()
    code = main(list(args))
    out, err = capfd.readouterr()
    return code, out, err


def repeats(study) -> int:
    from sweep.engine.arms import exact_repeats

    return exact_repeats(study.get_trials())


# ----------------------------------------------------------------------------- per seed
def test_each_trial_stores_its_seeds_values_and_configuration_key(tmp_path):
    from sweep import record

    launch(write(tmp_path, seeds="[0, 1, 2]", trials=4))
    trials = load(tmp_path).get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE"] * 4
    for t in trials:
        a = t.user_attrs
        assert a[record.CONFIG_KEY] == record.config_key({"freq": a["param:freq"]})
        assert a[record.CONFIG_KEY] == json.dumps({"freq": a["param:freq"]}, separators=(",", ":"))
        per_seed = a[record.PER_SEED]
        assert sorted(per_seed, key=int) == [str(s) for s in a["seeds"]]
        for values in per_seed.values():
            assert {"headline", "scratch_headline"} <= set(values)
        heads = [v["headline"] for v in per_seed.values()]
        assert a["headline"] == pytest.approx(sum(heads) / len(heads))
        assert len(set(heads)) == 3  # the options reached the task: seed noise
        view = record.TrialRecord.from_trial(t)
        assert view.per_seed("headline") == {
            int(s): v for s, v in zip(per_seed, heads, strict=True)
        }


# ----------------------------------------------------------------------------- replicates
def test_a_search_that_repeats_configurations_gets_replicates_on_new_seeds(tmp_path):
    from sweep import record
    from sweep.engine.arms import REPLICATE_STRIDE

    # freq in [0, 2] with min_width 1: three configurations, ten trials on two workers.
    launch(write(tmp_path, high=2, trials=10, sampler="random", seeds="[0, 1]"))
    study = load(tmp_path)
    trials = study.get_trials()
    assert [t.state.name for t in trials] == ["COMPLETE"] * 10
    assert repeats(study) == 0  # no (configuration, seeds) ran twice
    by_key: dict[str, list] = {}
    for t in trials:
        by_key.setdefault(t.user_attrs[record.CONFIG_KEY], []).append(t)
    assert len(by_key) <= 3
    for group in by_key.values():
        ks = sorted(t.user_attrs[record.REPLICATE] for t in group)
        assert ks == list(range(len(group)))  # 0, 1, 2, ...: each a new replicate
        for t in group:
            k = t.user_attrs[record.REPLICATE]
            assert t.user_attrs["seeds"] == [k * REPLICATE_STRIDE, 1 + k * REPLICATE_STRIDE]
    answer = study.user_attrs[record.STUDY_ANSWER]
    assert answer["exact_repeats"]["trials"] == 0


# ----------------------------------------------------------------------------- arms
def test_the_published_and_reference_arms_are_trials_of_the_budget(tmp_path):
    from sweep import record

    extra = "confirm: false\nreferences: {narrow: {freq: [0, 3]}, high: {freq: [15, 20]}}\n"
    launch(write(tmp_path, trials=5, extra=extra))
    trials = load(tmp_path).get_trials()
    assert len(trials) == 5 and all(t.state.name == "COMPLETE" for t in trials)
    arms = {t.user_attrs[record.ARM]: t for t in trials}
    assert arms["published"].user_attrs["param:freq"] == [0, 20]  # VisualAtom's published band
    assert arms["published"].user_attrs["seeds"] == [0]  # the study's seeds
    assert arms["reference:narrow"].user_attrs["param:freq"] == [0, 3]
    assert arms["reference:high"].user_attrs["param:freq"] == [15, 20]
    assert sum(t.user_attrs[record.ARM] == "search" for t in trials) == 2  # the search's share
    launch(write(tmp_path, trials=6, extra=extra))  # a longer budget: the arms are not repeated
    trials = load(tmp_path).get_trials()
    assert len(trials) == 6
    assert sum(t.user_attrs.get(record.ARM) == "published" for t in trials) == 1


def test_no_published_arm_when_the_search_cannot_take_it(tmp_path, capfd):
    space = write(tmp_path, high=8, trials=2)  # the published [0, 20] is outside [0, 8]
    code, _out, err = cli(capfd, "launch", str(space), "--no-progress")
    assert code == 0, err[-2000:]
    assert "published configuration: not evaluated (freq: published [0, 20]" in err
    assert all(t.user_attrs["sweep:arm"] == "search" for t in load(tmp_path).get_trials())


def test_a_reference_the_search_cannot_take_is_refused_with_its_line(tmp_path, capfd):
    space = write(tmp_path, extra="references:\n  wide: {freq: [0, 30]}\n")
    code, _, err = cli(capfd, "validate", str(space))
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert f"{space}:13: references.wide.freq: expected a [min, max] pair in [0, 20]" in err


# ----------------------------------------------------------------------------- confirmation
def test_confirmation_runs_top_k_and_published_on_fresh_common_seeds(tmp_path, capfd):
    from sweep import record
    from sweep.answer import VERDICTS

    space = write(tmp_path, trials=6, extra="confirm: {top: 2, seeds: 2, max_seeds: 3}\n")
    code, out, err = cli(capfd, "launch", str(space), "--no-progress")
    assert code == 0, err[-3000:]
    # The cost, up front (in the launch's first lines); the answer after the table, then only
    # its warnings and next steps.
    head = err.strip().splitlines()[:4]
    assert (
        "sweep: confirmation: 2 candidates + published x 2 fresh seeds = 6 trials, up to 9" in head
    ), head
    assert answer_last(out).startswith("answer: ")
    study = load(tmp_path)
    plan = study.user_attrs[record.STUDY_CONFIRM]
    assert {"seeds", "candidates", "published", "top", "max_seeds", "looks"} <= set(plan)
    assert plan["top"] == 2 and plan["max_seeds"] == 3 and plan["looks"] >= 1
    assert len(plan["seeds"]) in (2, 3) and len(plan["candidates"]) == 2
    assert plan["published"] == record.config_key({"freq": [0, 20]})
    trials = study.get_trials()
    search = [t for t in trials if t.user_attrs.get(record.ARM) != record.ARM_CONFIRM]
    confirm = [t for t in trials if t.user_attrs.get(record.ARM) == record.ARM_CONFIRM]
    assert len(search) == 6  # the budget; the confirmation comes on top
    # The candidates: the best two search configurations by mean headline.
    means: dict[str, list[float]] = {}
    for t in search:
        if t.user_attrs[record.ARM] == "search":
            means.setdefault(t.user_attrs[record.CONFIG_KEY], []).append(t.value)
    ranked = sorted(means, key=lambda k: -sum(means[k]) / len(means[k]))
    assert plan["candidates"] == [k for k in ranked if k != plan["published"]][:2]
    # One trial per (configuration, seed), on the plan's seeds: common and fresh.
    cells = sorted((t.user_attrs[record.CONFIG_KEY], t.user_attrs["seeds"][0]) for t in confirm)
    want = sorted((k, s) for k in [*plan["candidates"], plan["published"]] for s in plan["seeds"])
    assert cells == want
    search_seeds = {s for t in search for s in t.user_attrs["seeds"]}
    assert not search_seeds & set(plan["seeds"])
    assert all(t.state.name == "COMPLETE" and not t.intermediate_values for t in confirm)
    assert repeats(study) == 0
    # The stored answer, and sweep status --json.
    answer = study.user_attrs[record.STUDY_ANSWER]
    assert answer["verdict"] in VERDICTS
    code, out, _ = cli(
        capfd, "status", "arms", "--storage", str(tmp_path / "studies.db"), "--json"
    )
    data = json.loads(out)
    assert code == 0 and data["answer"]["verdict"] == answer["verdict"]
    assert data["counts"]["COMPLETE"] == len(trials) and data["confirm"]["seeds"] == plan["seeds"]
    assert data["arms"]["confirm"] == len(confirm)
    code, out, _ = cli(capfd, "status", "arms", "--storage", str(tmp_path / "studies.db"))
    assert code == 0 and out.strip().splitlines()[-1].startswith("answer: ")


def test_the_files_references_are_candidates_of_the_confirmation(tmp_path):
    # A family study's other families are references: the race must run them (it ran only the
    # published arm when reference arms, named reference:<name>, were not recognised).
    from sweep import record

    extra = (
        "references: {high: {freq: [15, 20]}, low: {freq: [0, 3]}}\n"
        "confirm: {top: 3, seeds: 2, max_seeds: 2}\n"
    )
    launch(write(tmp_path, trials=3, workers=1, extra=extra))
    study = load(tmp_path)
    plan = study.user_attrs[record.STUDY_CONFIRM]
    keys = {record.config_key({"freq": [15, 20]}), record.config_key({"freq": [0, 3]})}
    assert keys <= set(plan["candidates"]) and plan["search_trials"] == 2
    confirmed = {
        t.user_attrs[record.CONFIG_KEY]
        for t in study.get_trials()
        if t.user_attrs.get(record.ARM) == record.ARM_CONFIRM
    }
    assert keys | {plan["published"]} <= confirmed


def test_confirmation_off_or_larger_than_the_search_is_said_up_front(tmp_path, capfd):
    from sweep import record

    space = write(tmp_path, study="unconfirmed", trials=3)  # confirm: false
    code, out, err = cli(capfd, "launch", str(space), "--no-progress")
    assert code == 0 and "sweep: confirmation: off (confirm: false)" in err
    study = load(tmp_path, "unconfirmed")
    assert record.STUDY_CONFIRM not in study.user_attrs and len(study.get_trials()) == 3
    assert answer_last(out).startswith("answer: insufficient data")
    # Not written: on, unless its first round (2 + published, x 3 seeds) outgrows the budget.
    space = write(tmp_path, study="small", trials=3, extra="")
    code, out, err = cli(capfd, "launch", str(space), "--no-progress")
    assert code == 0 and "confirmation: skipped: its 9 trials" in err
    assert len(load(tmp_path, "small").get_trials()) == 3
    # Not written, and no published configuration in the space to race against: skipped.
    space = write(tmp_path, study="nopub", trials=9, high=8, extra="")
    code, out, err = cli(capfd, "launch", str(space), "--no-progress")
    assert code == 0 and "confirmation: skipped: the space holds no published configuration" in err
    assert len(load(tmp_path, "nopub").get_trials()) == 9


def test_resume_finishes_a_killed_confirmation_without_rerunning_a_cell(tmp_path, monkeypatch):
    from sweep import record
    from sweep.engine import launch as launcher
    from sweep.engine import resume

    space = write(
        tmp_path, trials=4, workers=1, extra="confirm: {top: 1, seeds: 3, max_seeds: 3}\n"
    )
    real = launcher.run_confirmation

    def killed(study, spec, profile, conf, run_round):
        def part(n):  # the launcher dies with two cells to go
            run_round(n - 2)
            raise KeyboardInterrupt

        return real(study, spec, profile, conf, part)

    monkeypatch.setattr(launcher, "run_confirmation", killed)
    with pytest.raises(KeyboardInterrupt):
        launch(space)
    monkeypatch.undo()
    study = load(tmp_path)
    # One of the two left was taken by a worker that died: a RUNNING orphan.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    orphan = study.ask()  # pops the first waiting cell
    orphan.set_user_attr(record.WORKER, f"{socket.gethostname()}:{dead.pid}")
    before = {t.number: t for t in study.get_trials() if t.state.name == "COMPLETE"}
    confirmed = [t for t in before.values() if t.user_attrs.get(record.ARM) == "confirm"]
    assert len(confirmed) == 4  # (1 candidate + published) x 3 seeds, two to go
    out = resume(
        "arms",
        storage=str(tmp_path / "studies.db"),
        device="cpu",
        progress=False,
        quiet=True,
        cache_dir=None,
    )
    study = load(tmp_path)
    trials = study.get_trials()
    for n, t in before.items():  # completed trials untouched
        assert trials[n].state.name == "COMPLETE" and trials[n].values == t.values
    assert trials[orphan.number].state.name == "FAIL"
    done = [
        t
        for t in trials
        if t.state.name == "COMPLETE" and t.user_attrs.get(record.ARM) == "confirm"
    ]
    cells = [(t.user_attrs[record.CONFIG_KEY], t.user_attrs["seeds"][0]) for t in done]
    assert len(cells) == 6 and len(set(cells)) == 6  # every cell once
    plan = study.user_attrs[record.STUDY_CONFIRM]
    assert plan["looks"] == 1 and plan["status"] in ("decided", "capped")
    assert (
        sum(
            t.user_attrs.get(record.ARM) != record.ARM_CONFIRM and t.state.name == "COMPLETE"
            for t in trials
        )
        == 4
    )
    assert out["answer"]["verdict"] == study.user_attrs[record.STUDY_ANSWER]["verdict"]
    assert out["confirm"]["seeds"] == plan["seeds"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("confirm: {top: 0}\n", "confirm.top: expected a positive integer"),
        ("confirm: {seeds: 5, max_seeds: 3}\n", "confirm.max_seeds: max_seeds 3 is below seeds 5"),
        ("confirm: {tops: 2}\n", "confirm.tops: unknown key (did you mean 'top'?)"),
        (
            "confirm: sometimes\n",
            "confirm: expected false, true or {top: 2, seeds: 3, max_seeds: 24}",
        ),
        ("confirm: {max_seeds: 1000000000}\n", "confirm.max_seeds: 1000000000 is more than 64"),
        ("confirm: {seeds: 1000000}\n", "confirm.seeds: 1000000 is more than 64 paired seeds"),
        ("confirm: {top: 1000}\n", "confirm.top: 1000 candidates is more than 16"),
    ],
)
def test_a_bad_confirm_section_is_one_line_with_its_key(tmp_path, capfd, extra, message):
    code, _, err = cli(capfd, "validate", str(write(tmp_path, extra=extra)))
    assert code == 2 and len(err.strip().splitlines()) == 1 and message in err, err


def test_continuing_a_study_does_not_replay_its_first_suggestions(tmp_path):
    # Issue 14, item 2: launch --trials 3, then 6, then 9 used to give 9 trials of 3 distinct
    # configurations (every launch seeded its samplers 1000 + index).
    space = write(tmp_path, trials=3, high=200, sampler="random", workers=1)
    for total in (3, 6, 9):
        launch(space, trials=total)
    trials = [t for t in load(tmp_path).get_trials() if t.state.name == "COMPLETE"]
    search = [t for t in trials if t.user_attrs.get("sweep:arm", "search") == "search"]
    keys = [t.user_attrs["sweep:config_key"] for t in search]
    assert len(search) >= 8 and len(set(keys)) == len(keys)  # 20,100 bands: no collision


def test_sweep_trial_passes_the_proxy_options(tmp_path):
    from sweep.trial import run_from_file

    space = write(tmp_path)
    quiet = run_from_file(str(space), seeds=[0], device="cpu", cache_dir=None, quiet=True)
    space.write_text(space.read_text().replace("options: {noise: 1.0}", "options: {}"))
    exact = run_from_file(str(space), seeds=[0], device="cpu", cache_dir=None, quiet=True)
    assert exact["metrics"]["headline"] == 100.0  # the published band, no noise: the optimum
    assert quiet["metrics"]["headline"] != 100.0  # the file's noise reached the task


def test_a_trial_left_unnamed_by_a_kill_is_retried_by_the_next_launch(tmp_path):
    # CI once found a RUNNING trial with no worker after resume: a worker killed between
    # Optuna's ask and the objective, and a resume that finished before the 10 s grace.
    space = write(tmp_path, trials=2, workers=1)
    launch(space)
    study = load(tmp_path)
    study.ask()  # what the killed worker left: RUNNING, unnamed, seconds old
    launch(space, trials=4)
    trials = load(tmp_path).get_trials()
    assert not [t for t in trials if t.state.name == "RUNNING"]
    assert sum(t.state.name == "COMPLETE" for t in trials) == 4
    assert [t.user_attrs.get("sweep:retry_of") for t in trials if t.state.name == "FAIL"] == [None]


def answer_last(out: str) -> str:
    """The launch's answer line, checking that only its own lines follow it (wrapped text,
    its warnings and next steps, indented)."""
    lines = out.strip().splitlines()
    at = max(i for i, x in enumerate(lines) if x.startswith("answer: "))
    assert all(x.startswith("  ") for x in lines[at + 1 :]), lines[at:]
    return lines[at]
