"""The Ray backend end to end: a real Ray cluster on this machine (``ray start --head``, 2 CPUs,
shared by the module), real PostgreSQL and SQLite studies, real SIGKILLs of Ray workers and of the
driver, and a check of /proc that no Ray process outlives the code that started it."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from spaces import ANALYTIC_SPACE, vit_space_head

#: real launches, workers or trainings: the full suite only (the fast tier: -m "not slow")
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ray")]  # (one Ray at a time)

RAY = str(Path(sys.executable).with_name("ray"))
ENV = {**{k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}, "RAY_AUTH_MODE": "disabled"}

ANALYTIC = ANALYTIC_SPACE + "backend: {backend}\n"

TINY = (
    vit_space_head("tiny", pretrain=10)
    + """\
objectives: [{{headline: maximize}}]
budget: {{trials: {trials}, workers: 2, max_failed: 3}}
backend: {backend}
storage: {storage}
"""
)


# ----------------------------------------------------------------------------- /proc
def proc_table() -> dict[int, tuple[int, int, int, str]]:
    """pid -> (ppid, session id, start time, state) of every process."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        out[int(d)] = (int(fields[1]), int(fields[3]), int(fields[19]), fields[0].decode())
    return out


def descendants(root: int) -> dict[int, int]:
    """pid -> start time of every descendant of ``root``."""
    table = proc_table()
    kids: dict[int, list[int]] = {}
    for pid, (ppid, *_rest) in table.items():
        kids.setdefault(ppid, []).append(pid)
    out, todo = {}, list(kids.get(root, []))
    while todo:
        pid = todo.pop()
        out[pid] = table[pid][2]
        todo.extend(kids.get(pid, []))
    return out


def alive(pids: dict[int, int] | None = None, *, session: int | None = None) -> list[int]:
    """Live (not zombie) processes among ``pids`` (same start time), or in ``session``."""
    table = proc_table()
    if session is not None:
        return [p for p, (_, sid, _, st) in table.items() if sid == session and st != "Z"]
    return [
        p
        for p, start in (pids or {}).items()
        if p in table and table[p][2] == start and table[p][3] != "Z"
    ]


def wait_gone(check, timeout: float = 15.0) -> list[int]:
    deadline = time.time() + timeout
    while (left := check()) and time.time() < deadline:
        time.sleep(0.25)
    return left


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def cluster():
    """A 2-CPU Ray head node in its own session and temp dir; torn down by session id."""
    tmp = tempfile.mkdtemp(prefix="srt-", dir="/tmp")  # short: Ray's socket paths
    proc = subprocess.Popen(
        [
            RAY,
            "start",
            "--head",
            "--num-cpus=2",
            "--num-gpus=0",
            "--port=0",
            f"--temp-dir={tmp}",
            "--include-dashboard=false",
            "--disable-usage-stats",
        ],
        env=ENV,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    out, _ = proc.communicate(timeout=120)
    try:
        assert proc.returncode == 0, out[-3000:]
        address = (Path(tmp) / "ray_current_cluster").read_text().strip()
        with pytest.MonkeyPatch.context() as mp:  # in-process drivers: no token auth
            mp.setenv("RAY_AUTH_MODE", "disabled")
            mp.delenv("RAY_ADDRESS", raising=False)
            yield {"address": address, "tmp": Path(tmp)}
    finally:
        for pid in alive(session=proc.pid):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        left = wait_gone(lambda: alive(session=proc.pid))
        shutil.rmtree(tmp, ignore_errors=True)
        assert not left, f"Ray processes of the test cluster left: {left}"


def write(tmp_path: Path, text: str, **kw) -> Path:
    f = tmp_path / "space.yaml"
    f.write_text(text.format(**kw))
    return f


def load(url: str, study: str):
    from sweep.storage import make_storage

    return optuna.load_study(study_name=study, storage=make_storage(url, heartbeat=False))


def shape(value):
    """The JSON shape of an attribute: its type, and for lists their length."""
    if isinstance(value, list):
        return ("list", len(value))
    if isinstance(value, dict):
        return ("dict", tuple(sorted(value)))
    return type(value).__name__


# ----------------------------------------------------------------------------- no Ray
@pytest.mark.parametrize(
    ("backend", "message"),
    [
        ("{name: ray, resorces: {cpus: 1}}", "backend.resorces: unknown key (did you mean "),
        ("spark", "unknown backend 'spark'"),
        ("{name: ray, scheduler: pbt}", "pbt does not fit a proxy trial"),
        ("{name: ray, scheduler: {name: asha, options: {grace: 1}}}", "not an option of "),
        ("{name: ray, resources: {gpus: 1.5}}", "a fraction below 1 or a whole number"),
        ("{name: ray, resources: {cpus: 0}}", "expected a positive number"),
        ("{name: local, address: auto}", "'address' applies to backend ray"),
    ],
)
def test_bad_backend_blocks_are_one_line_errors_with_file_and_line(
    tmp_path, capfd, backend, message
):
    from sweep.cli import main

    space = write(tmp_path, ANALYTIC, study="bad", trials=2, backend=backend)
    assert main(["validate", str(space)]) == 2
    err = capfd.readouterr().err
    assert "space.yaml:8: backend" in err and message in err, err
    assert len(err.strip().splitlines()) == 1


def test_backend_cross_checks_and_command_line_flags(tmp_path, capfd):
    from sweep.cli import main

    ok = (
        "{name: ray, resources: {cpus: 1, gpus: 0.25}, scheduler: {name: hyperband, options: "
        "{grace_period: 1, reduction_factor: 3}}}"
    )
    good = write(tmp_path, ANALYTIC, study="ok", trials=2, backend=ok)
    assert main(["validate", str(good)]) == 0
    space = write(
        tmp_path,
        ANALYTIC + "pruner: median\n",
        study="x",
        trials=2,
        backend="{name: ray, scheduler: asha}",
    )
    assert main(["validate", str(space)]) == 2
    assert "space.yaml:8: backend.scheduler: " in capfd.readouterr().err
    space = write(tmp_path, ANALYTIC, study="x", trials=2, backend="local")
    for args, message in (
        (["--backend", "local", "--address", "10.0.0.1:6379"], "add --backend ray"),
        (["--address", "127.0.0.1:1"], "cannot reach the Ray cluster"),
    ):
        capfd.readouterr()
        assert main(["launch", str(space), "--storage", str(tmp_path / "s.db"), *args]) == 2
        err = capfd.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "s.db").exists()  # refused before anything was written


@pytest.mark.parametrize(("direction", "brackets"), [("maximize", 1), ("minimize", 3)])
def test_scheduler_replay_from_the_study_decides_as_ray_tune_does(direction, brackets):
    """Trials run one after another through Ray Tune's own AsyncHyperBandScheduler and, in
    parallel, through our pruner that rebuilds it from the study: same decision at every epoch."""
    import numpy as np
    from ray.tune.schedulers import AsyncHyperBandScheduler, TrialScheduler

    from sweep.engine.ray_scheduler import TuneSchedulerPruner, TuneTrial

    max_t, rng = 27, np.random.default_rng(0)
    pruner = TuneSchedulerPruner(
        max_t=max_t, grace_period=1, reduction_factor=3, brackets=brackets
    )
    study = optuna.create_study(direction=direction, pruner=pruner)
    ref = AsyncHyperBandScheduler(
        time_attr="t",
        metric="v",
        mode=direction[:3],
        max_t=max_t,
        grace_period=1,
        reduction_factor=3,
        brackets=brackets,
    )
    stops = 0
    for _ in range(40):
        trial = study.ask()
        key = TuneTrial(str(trial.number))
        ref.on_trial_add(None, key)
        ref._trial_info[key.trial_id] = ref._brackets[pruner.bracket(trial.number, ref)]
        level, slope = rng.normal(), rng.normal()
        for step in range(1, max_t + 1):
            value = float(level + slope * np.log(step) + 0.1 * rng.normal())
            trial.report(value, step)
            ours = trial.should_prune()
            theirs = ref.on_trial_result(None, key, {"t": step, "v": value})
            if step < max_t:  # at max_t Tune ends the trial normally; we never prune there
                assert ours == (theirs == TrialScheduler.STOP), (trial.number, step)
            if ours:
                break
        ref.on_trial_complete(None, key, {"t": step, "v": value})
        stops += ours
        if ours:
            study.tell(trial, state=TrialState.PRUNED)
        else:
            study.tell(trial, value)
    assert 10 < stops < 40  # the comparison covered both decisions


# ----------------------------------------------------------------------------- on Ray
def test_ray_backend_runs_the_budget_with_the_local_backends_attributes(
    cluster, storage_url, tmp_path
):
    from sweep.engine import export, run

    trials = {}
    for name, backend in (("loc", "local"), ("onray", "ray")):
        space = write(tmp_path, ANALYTIC, study=name, trials=4, backend=backend)
        address = cluster["address"] if backend == "ray" else None
        out = run(
            str(space),
            storage=storage_url,
            device="cpu",
            progress=False,
            quiet=True,
            cache_dir=None,
            address=address,
        )
        assert out["counts"]["COMPLETE"] == 4, out
        trials[name] = load(storage_url, name).trials
    onray, local = trials["onray"], trials["loc"]
    # At most the budget's 2 actors; the analytic trials are so short that one actor can take
    # all 4 before the other has started (that the workers are Ray actors is checked by
    # test_a_killed_ray_worker_fails_its_trial_which_is_retried, through their command line).
    assert 1 <= len({t.user_attrs["sweep:worker"] for t in onray}) <= 2
    # Same attributes, same shapes: a reader of the study cannot tell the backends apart.
    want = {k: shape(v) for k, v in local[0].user_attrs.items() if k != "time_total_s"}
    for t in onray + local:
        got = {k: shape(v) for k, v in t.user_attrs.items() if k != "time_total_s"}
        assert got == want and t.value == t.user_attrs["headline"]
        assert set(t.params) == set(local[0].params) and t.distributions == local[0].distributions
        assert t.intermediate_values.keys() == local[0].intermediate_values.keys()
    study_attrs = [load(storage_url, name).user_attrs.keys() for name in ("loc", "onray")]
    assert study_attrs[0] == study_attrs[1]
    headers = []
    for name in ("loc", "onray"):
        csv = export(name, storage_url, str(tmp_path / name))["csv"]
        headers.append(Path(csv).read_text().splitlines()[0])
    assert headers[0] == headers[1]
    # The database password reached no Ray log or file.
    from sqlalchemy.engine import make_url

    password = make_url(storage_url).password if "://" in storage_url else None
    if password:
        for f in cluster["tmp"].rglob("*"):
            if f.is_file() and not f.is_symlink():
                assert password.encode() not in f.read_bytes(), f


def test_resources_no_node_has_are_refused_instead_of_waiting(cluster, tmp_path):
    from sweep.engine import run
    from sweep.errors import SweepError

    backend = "{name: ray, resources: {cpus: 1, gpus: 1}}"  # the cluster has no GPU
    space = write(tmp_path, ANALYTIC, study="nogpu", trials=2, backend=backend)
    with pytest.raises(SweepError, match=r"no node of the Ray cluster .* 1 GPUs; nodes: 2 CPUs"):
        run(
            str(space),
            storage=str(tmp_path / "s.db"),
            device="cpu",
            progress=False,
            quiet=True,
            cache_dir=None,
            address=cluster["address"],
        )


def test_asha_on_ray_records_stopped_trials_as_pruned(cluster, tmp_path):
    from sweep.engine import run

    url = f"sqlite:///{tmp_path / 's.db'}"
    backend = "{name: ray, scheduler: {name: asha, options: {reduction_factor: 4}}}"
    space = write(
        tmp_path, ANALYTIC + "confirm: false\n", study="asha", trials=10, backend=backend
    )  # the search's trials only: no race after it
    out = run(
        str(space),
        storage=url,
        device="cpu",
        progress=False,
        quiet=True,
        cache_dir=None,
        address=cluster["address"],
    )
    c = out["counts"]
    assert c["COMPLETE"] + c["PRUNED"] == 10 and c["FAIL"] == c["RUNNING"] == 0, c
    assert c["PRUNED"] >= 1 and c["COMPLETE"] >= 1, c  # trial 0 cannot be stopped: no rung yet
    for t in load(url, "asha").trials:
        assert list(t.intermediate_values) == [1]  # the analytic task reports one step
        if t.state == TrialState.PRUNED:
            assert "headline" not in t.user_attrs  # stopped before its final metrics
        else:
            assert t.value == t.user_attrs["headline"]  # a final value, never a partial one


def launch(tmp_path: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
    cmd = [
        sys.executable,
        "-m",
        "sweep",
        "launch",
        str(tmp_path / "space.yaml"),
        "--no-progress",
        *args,
    ]
    return subprocess.Popen(
        cmd,
        cwd=tmp_path,
        env=env or ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def wait_for(url: str, condition, timeout: float = 180.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        time.sleep(0.3)
        try:
            trials = load(url, "tiny").get_trials()
        except KeyError:
            continue
        if (found := condition(trials)) is not None:
            return found
    raise AssertionError("timed out waiting for the study")


def test_a_killed_ray_worker_fails_its_trial_which_is_retried(cluster, tmp_path):
    url = f"sqlite:///{tmp_path / 's.db'}"
    write(tmp_path, TINY, trials=4, backend="local", storage=url)  # --address implies ray
    proc = launch(tmp_path, "--address", cluster["address"])
    try:

        def running(trials):
            for t in trials:
                worker = t.user_attrs.get("sweep:worker", "")
                if t.state == TrialState.RUNNING and ":" in worker and t.params:  # mid-trial
                    return t.number, int(t.user_attrs["sweep:worker"].split(":")[1])
            return None

        number, pid = wait_for(url, running)
        assert cmdline(pid).startswith("ray::RayWorker")  # a Ray actor, not a local worker
        os.kill(pid, signal.SIGKILL)
        _, err = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-3000:]
    trials = load(url, "tiny").get_trials()
    killed = trials[number]
    assert killed.state == TrialState.FAIL
    assert killed.user_attrs["error"] == "worker died mid-trial"
    (retry,) = [t for t in trials if t.user_attrs.get("sweep:retry_of") == number]
    assert retry.state == TrialState.COMPLETE and retry.params == killed.params
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(done) == 4
    for t in done:  # the vit proxy's attributes, as the local backend writes them
        for key in (
            "headline",
            "finetune_mean",
            "digits/finetune",
            "pretrain_loss",
            "time_total_s",
            "dataset_fingerprint",
            "seeds",
            "device",
            "param:freq",
        ):
            assert key in t.user_attrs, key
        assert t.user_attrs["device"] == "cpu" and t.value == t.user_attrs["headline"]


def test_a_killed_driver_leaves_no_ray_process_and_resume_completes(
    cluster, storage_url, tmp_path, request
):
    write(tmp_path, TINY, trials=6, backend="ray", storage=storage_url)  # a local Ray
    ray_tmp = tempfile.mkdtemp(prefix="srd-", dir="/tmp")  # its session files, removed below
    request.addfinalizer(lambda: shutil.rmtree(ray_tmp, ignore_errors=True))
    proc = launch(tmp_path, env={**ENV, "RAY_TMPDIR": ray_tmp})
    seen: dict[int, int] = {}  # the driver's descendants: pid -> start time
    names: dict[int, str] = {}

    def snapshot() -> None:
        for pid, start in descendants(proc.pid).items():
            seen[pid], names[pid] = start, cmdline(pid) or names.get(pid, "")

    try:

        def mid_budget(trials):
            snapshot()
            states = [t.state for t in trials]
            if TrialState.RUNNING in states and TrialState.COMPLETE in states:
                return True
            return None

        wait_for(storage_url, mid_budget)
        snapshot()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
    started = " ".join(names.values())
    assert "raylet" in started and "ray::RayWorker" in started  # the driver had started Ray
    assert not wait_gone(lambda: alive(seen)), "Ray processes outlived the killed driver"
    assert not alive(session=proc.pid)
    study = load(storage_url, "tiny")
    before = {t.number: t for t in study.get_trials() if t.state == TrialState.COMPLETE}
    orphans = [t.number for t in study.get_trials() if t.state == TrialState.RUNNING]
    assert before and orphans, "the kill was meant to land mid-trial"
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "sweep",
            "resume",
            "tiny",
            "--storage",
            storage_url,
            "--address",
            cluster["address"],
            "--no-progress",
        ],
        cwd=tmp_path,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    trials = load(storage_url, "tiny").get_trials()
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    assert sum(t.state == TrialState.COMPLETE for t in trials) == 6
    for n, t in before.items():  # completed trials untouched
        assert trials[n].state == TrialState.COMPLETE and trials[n].values == t.values
        assert trials[n].user_attrs == t.user_attrs
    for n in orphans:
        assert trials[n].state == TrialState.FAIL
        (retry,) = [t for t in trials if t.user_attrs.get("sweep:retry_of") == n]
        # every parameter the orphan had drawn is kept (a kill before or between Optuna's
        # suggest calls leaves some undrawn: the retry draws them, as the orphan would have)
        assert retry.state == TrialState.COMPLETE
        assert trials[n].params.items() <= retry.params.items()


def test_a_ray_driver_and_a_local_launcher_share_one_budget(tmp_path, request):
    # Issue 14, item 1 on both backends: a Ray driver (its own local Ray) runs slow trials;
    # a local launcher started once the driver's actors run trials joins the same study. The
    # trials claim their tickets in the storage, so the study ends with its budget, not more.
    from test_budget_claims import budget_trials, env, finish, write_study
    from test_budget_claims import load as load_two

    n = 8
    space = write_study(tmp_path, "journal.log", n)
    ray_tmp = tempfile.mkdtemp(prefix="srb-", dir="/tmp")  # short: Ray's socket paths
    request.addfinalizer(lambda: shutil.rmtree(ray_tmp, ignore_errors=True))

    def start(sleep: float, *args: str) -> subprocess.Popen:
        e = {**env(tmp_path, sleep), "RAY_AUTH_MODE": "disabled", "RAY_TMPDIR": ray_tmp}
        e.pop("RAY_ADDRESS", None)
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sweep",
                "launch",
                str(space),
                "--device",
                "cpu",
                "--no-progress",
                *args,
            ],
            cwd=tmp_path,
            env=e,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    driver = start(2.0, "--backend", "ray")
    procs = [driver]
    try:
        deadline = time.time() + 180
        while time.time() < deadline and driver.poll() is None:
            time.sleep(0.3)
            with contextlib.suppress(KeyError):
                trials = load_two(tmp_path, "journal.log").get_trials()
                if any(t.state == TrialState.RUNNING and t.params for t in trials):
                    break
        procs.append(start(0.2))
        results = finish(procs, timeout=240)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for rc, _, err in results:
        assert rc == 0, err[-3000:]
    assert "is already running" in results[1][2], results[1][2]
    ran = budget_trials(load_two(tmp_path, "journal.log"))
    assert sum(t.state == TrialState.COMPLETE for t in ran) == n and len(ran) == n
    assert len({t.user_attrs["sweep:worker"] for t in ran}) >= 3  # actors and local workers
