"""A study's budget is claimed in its storage: two launchers on one study run it once.

Issue 14, item 1: ``sweep launch FILE`` started twice at once on one study ran its budget
twice (80 complete trials for a budget of 40, SQLite and journal alike), the two launchers
suggesting identical sequences. Each trial now claims a ticket of the study's budget in the
storage (:func:`sweep.record.claim_holds`): the tests start real launchers (``python -m sweep
launch``) on the ``analytic`` task, each trial slowed down by a ``sitecustomize`` hook so that
the launchers overlap on any machine, and count the study's trials.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from spaces import ANALYTIC_SPACE

#: real launches, workers or trainings: the full suite only (the fast tier: -m "not slow")
pytestmark = pytest.mark.slow

#: seconds each analytic trial sleeps in the launchers of these tests (the hook below)
TRIAL_SLEEP = 0.4

#: imported by every Python process of a launcher (PYTHONPATH): the analytic task sleeps
#: SWEEP_TEST_TRIAL_SLEEP seconds per trial, so two launchers started together overlap
HOOK = """\
import os, time
if os.environ.get("SWEEP_TEST_TRIAL_SLEEP"):
    import proxy_tasks.analytic as _analytic
    _run = _analytic.AnalyticProxy.run
    def _slow_run(self, spec, report=None):
        time.sleep(float(os.environ["SWEEP_TEST_TRIAL_SLEEP"]))
        return _run(self, spec, report)
    _analytic.AnalyticProxy.run = _slow_run
"""


def where(tmp_path: Path, storage: str) -> str:
    """A file name in tmp_path, or a URL (PostgreSQL) as it is."""
    return storage if "://" in storage else str(tmp_path / storage)


def write_study(tmp_path: Path, storage: str, trials: int, extra: str = "") -> Path:
    f = tmp_path / "two.yaml"
    f.write_text(
        ANALYTIC_SPACE.format(study="two", trials=trials)
        + f"storage: {where(tmp_path, storage)}\nconfirm: false\n{extra}"
    )
    return f


def env(tmp_path: Path, sleep: float = TRIAL_SLEEP) -> dict[str, str]:
    hook = tmp_path / "hook"
    hook.mkdir(exist_ok=True)
    (hook / "sitecustomize.py").write_text(HOOK)
    path = os.pathsep.join(p for p in (str(hook), os.environ.get("PYTHONPATH", "")) if p)
    return {
        **os.environ,
        "PYTHONPATH": path,
        "SWEEP_TEST_TRIAL_SLEEP": str(sleep),
        "COLUMNS": "300",
    }


def launch(tmp_path: Path, *args: str, sleep: float = TRIAL_SLEEP) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "sweep", "launch", *args, "--no-progress", "--device", "cpu"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env(tmp_path, sleep),
    )


def finish(procs: list[subprocess.Popen], timeout: float = 120) -> list[tuple[int, str, str]]:
    deadline = time.monotonic() + timeout
    out = []
    for p in procs:
        so, se = p.communicate(timeout=max(1.0, deadline - time.monotonic()))
        out.append((p.returncode, so, se))
    return out


def load(tmp_path: Path, storage: str):
    from sweep.storage import make_storage, normalize_storage

    url = normalize_storage(where(tmp_path, storage))
    return optuna.load_study(study_name="two", storage=make_storage(url, heartbeat=False))


def budget_trials(study) -> list:
    """The trials that ran (claim-lost ones never did)."""
    return [t for t in study.get_trials() if not t.user_attrs.get("sweep:claim_lost")]


@pytest.mark.parametrize("storage", ["studies.db", "journal.log", "postgresql"])
def test_two_launchers_at_once_share_one_budget(tmp_path, storage, request):
    if storage == "postgresql":  # a fresh schema (conftest.py); skipped without a server
        from sweep.storage import make_storage

        storage = request.getfixturevalue("postgres_url")
        # Its tables first: two processes creating a new database's tables at the same
        # instant is a race of sweep.storage.make_storage, not of the budget.
        make_storage(storage, heartbeat=False)
    n = 8
    space = write_study(tmp_path, storage, n)
    results = finish([launch(tmp_path, str(space)), launch(tmp_path, str(space))])
    for rc, _, err in results:
        assert rc == 0, err[-3000:]
    study = load(tmp_path, storage)
    ran = budget_trials(study)
    assert sum(t.state == TrialState.COMPLETE for t in ran) == n, [t.state for t in ran]
    assert len(ran) == n  # nothing else ran: no failure, nothing left RUNNING or WAITING
    # Both launchers' workers took part, and no configuration was drawn twice on the same
    # seeds: the two launchers' samplers do not replay each other's sequence.
    keys = [
        (t.user_attrs["sweep:config_key"], t.user_attrs.get("sweep:replicate", 0)) for t in ran
    ]
    assert len(set(keys)) == n
    lost = [t for t in study.get_trials() if t.user_attrs.get("sweep:claim_lost")]
    assert all(t.state == TrialState.FAIL and "headline" not in t.user_attrs for t in lost)


def test_each_worker_draws_its_own_sequence(tmp_path):
    # Two launchers started together on a study counted the same trials at launch and seeded
    # their workers alike: worker i of each drew the same values. Each worker's sampler is now
    # seeded from its first trial's number, which the storage hands out once. (The study exists
    # first, so that both launchers find the same trials whatever their start order.)
    n = 13
    space = write_study(tmp_path, "journal.log", n)
    ((rc, _, err),) = finish([launch(tmp_path, str(space), "--trials", "1", sleep=0)])
    assert rc == 0, err[-3000:]
    # (2 s a trial: 6 s of work for 4 workers, time for the second launcher to start on a
    # loaded machine; both must take part, or the check below is vacuous)
    results = finish(
        [launch(tmp_path, str(space), sleep=2.0), launch(tmp_path, str(space), sleep=2.0)]
    )
    for rc, _, err in results:
        assert rc == 0, err[-3000:]
    first: dict[str, dict] = {}
    for t in sorted(budget_trials(load(tmp_path, "journal.log")), key=lambda t: t.number):
        if t.number > 0:  # (trial 0: the first launch's, the published arm)
            first.setdefault(t.user_attrs["sweep:worker"], t.params)
    draws = [tuple(sorted(p.items())) for p in first.values()]
    assert len(first) >= 3 and len(set(draws)) == len(draws), first


def test_a_resume_while_the_launch_runs_joins_its_budget(tmp_path):
    # The launch's trials are slow (seconds), the resume's fast: the resume starts once the
    # launch has trials running, says in one line that it joins, and the study ends with its
    # budget, not the budget plus what the resume counted as left.
    n = 6
    space = write_study(tmp_path, "studies.db", n)
    slow = launch(tmp_path, str(space), sleep=5.0)  # (the resume starts on a loaded machine)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        time.sleep(0.3)
        try:
            trials = load(tmp_path, "studies.db").get_trials()
        except KeyError:
            continue
        if any(t.state == TrialState.RUNNING and t.params for t in trials):
            break
    resumed = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sweep",
            "resume",
            "two",
            "--storage",
            str(tmp_path / "studies.db"),
            "--no-progress",
            "--device",
            "cpu",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env(tmp_path, 0.2),
    )
    (rc0, _, err0), (rc1, _, err1) = finish([slow, resumed], timeout=180)
    assert rc0 == 0 and rc1 == 0, (err0[-2000:], err1[-2000:])
    joined = [x for x in err1.splitlines() if "is already running" in x]
    assert len(joined) == 1 and "joins its budget of 6 trials" in joined[0], err1
    ran = budget_trials(load(tmp_path, "studies.db"))
    assert sum(t.state == TrialState.COMPLETE for t in ran) == n and len(ran) == n
    assert len({t.user_attrs["sweep:worker"] for t in ran}) >= 3  # both took part


@pytest.mark.parametrize("storage", ["studies.db", "postgresql"])
def test_two_launchers_run_one_confirmation_and_store_one_answer(tmp_path, storage, request):
    # Issue 21, item 2: two launchers started together both ran the confirmation (24 cells
    # where one runs 12) and stored different intervals. The last launcher to finish its search
    # confirms, holding the study's claim in the storage (sweep.engine.claims.ConfirmClaim);
    # the other says so, and the later one says that it joins the budget.
    if storage == "postgresql":
        from sweep.storage import make_storage

        storage = request.getfixturevalue("postgres_url")
        make_storage(storage, heartbeat=False)
    space = write_study(tmp_path, storage, 8)
    text = space.read_text().replace("confirm: false\n", "confirm: {top: 1, seeds: 3}\n")
    space.write_text(text.replace("profile: cpu}", "profile: cpu, options: {noise: 0.5}}"))
    results = finish(
        [launch(tmp_path, str(space), sleep=1.0), launch(tmp_path, str(space), sleep=1.0)],
        timeout=180,
    )
    for rc, _, err in results:
        assert rc == 0, err[-3000:]
    errs = [err for _, _, err in results]
    assert sum("joins its budget of 8 trials" in e for e in errs) == 1, errs
    assert sum("answers when it ends" in e for e in errs) == 1, errs
    assert sum("answer:" in out for _, out, _ in results) == 1, [o for _, o, _ in results]
    study = load(tmp_path, storage)
    cells = [t for t in study.get_trials() if t.user_attrs.get("sweep:arm") == "confirm"]
    plan = study.user_attrs["sweep:confirm"]
    # One confirmation: each (configuration, seed) cell enqueued once, one look per round.
    keys = [
        (t.user_attrs["sweep:config_key"], t.user_attrs["sweep:fixed"]["seeds"][0]) for t in cells
    ]
    assert len(keys) == len(set(keys)) == len(plan["seeds"]) * 2, keys
    from sweep.answer.data import rounds

    assert plan["looks"] == rounds(3, len(plan["seeds"])).index(len(plan["seeds"])) + 1, plan


# ----------------------------------------------------------------------------- the rule
def trial(number, state="COMPLETE", **attrs):
    from types import SimpleNamespace

    system = attrs.pop("system", {})
    return SimpleNamespace(
        number=number, state=TrialState[state], user_attrs=attrs, system_attrs=system
    )


def test_a_trial_holds_a_ticket_when_fewer_than_the_budget_precede_its_lineage():
    from sweep import record

    lost = {"sweep:claim_lost": True}
    done = [trial(0), trial(1, "FAIL"), trial(2, "RUNNING"), trial(3, "WAITING")]
    # Every lineage holds its ticket whatever its state: 4 tickets held below trial 4.
    assert record.tickets_held(done) == 4
    assert record.claim_holds([*done, me := trial(4, "RUNNING")], me, 5)
    assert not record.claim_holds([*done, me], me, 4)
    # A trial that gave its ticket back holds none (and never counts as run).
    study = [*done, trial(4, "FAIL", **lost), me := trial(5, "RUNNING")]
    assert record.claim_holds(study, me, 5) and record.tickets_held(study) == 5
    assert record.used_budget(study) == 2 and record.counts(study)["FAIL"] == 1
    # A retry runs on its lineage's ticket: the first trial's place decides, not its own.
    retry = trial(9, "RUNNING", **{"sweep:retry_of": 1})
    assert record.claim_holds([*done, retry], retry, 4)
    heartbeat = trial(9, "RUNNING", system={"failed_trial": 1})  # Optuna's own retry
    assert record.claim_holds([*done, heartbeat], heartbeat, 2)
    assert not record.claim_holds([*done, trial(7, "RUNNING"), retry], retry, 1)
    # ...and the retry of a trial that gave its ticket back runs nothing either.
    orphan = [
        trial(0),
        trial(1, "FAIL", **lost),
        r := trial(2, "RUNNING", **{"sweep:retry_of": 1}),
    ]
    assert not record.claim_holds(orphan, r, 10)
    # Confirmation cells are not the search budget's; the same cell enqueued twice (two
    # launchers) runs once: the lower number, whichever worker pops first.
    cell = {"sweep:arm": "confirm", "sweep:config_key": "k", "sweep:fixed": {"seeds": [7]}}
    a, b = trial(5, "WAITING", **cell), trial(6, "RUNNING", **cell)
    assert record.claim_holds([*done, a, b], a, 0)
    assert not record.claim_holds([*done, a, b], b, 0)
    other = {**cell, "sweep:fixed": {"seeds": [8]}}
    assert record.claim_holds([*done, a, c := trial(6, "RUNNING", **other)], c, 0)
    failed = trial(5, "FAIL", **cell)  # a failed cell does not block its re-run
    assert record.claim_holds([*done, failed, b], b, 0)
    # The published arm enqueued by two launchers at once: run once.
    pub = {"sweep:arm": "published"}
    p1, p2 = trial(0, "COMPLETE", **pub), trial(3, "RUNNING", **pub)
    assert not record.claim_holds([p1, p2], p2, 10)


def test_the_typed_view_leaves_out_trials_that_gave_their_ticket_back(tmp_path):
    from sweep import record

    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 's.db'}", study_name="s")
    study.enqueue_trial({"x": 1.0})
    t = study.ask()
    study.tell(t, 1.0)
    lost = study.ask()
    lost.set_user_attr(record.CLAIM_LOST, True)
    study.tell(lost, state=TrialState.FAIL)
    assert [r.number for r in record.records(study)] == [0]
    assert record.counts(study.get_trials())["FAIL"] == 0
    assert record.used_budget(study.get_trials()) == 1
    # Nor do status's trials per arm or the report's trials table.
    from reports.data import report_data
    from sweep.engine.commands import status

    st = status("s", f"sqlite:///{tmp_path / 's.db'}")
    assert sum(st["arms"].values()) == 1 and st["counts"]["FAIL"] == 0
    rows = report_data(
        optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 's.db'}"), samples=False
    )["trials"]
    assert [r["number"] for r in rows] == [0]
