"""A real cluster (issue 23): Ray head, two Ray worker hosts, a PostgreSQL host and a client
host, each a network namespace of its own on a private bridge (``tests/netcluster.py``), run
through the README's cluster recipe (``ray start --head``, ``ray start --address`` with the
token, ``sweep launch FILE --address HEAD:6379 --storage postgresql+psycopg://...@DB/...``
from the client host), then faults: a worker host killed, a worker host cut from the network,
PostgreSQL restarted mid-study, the head killed (and ``sweep resume --address`` on a new head),
clients with a wrong address, token or database.

The worker hosts run with the repository's ``sweep`` and ``proxy_tasks`` hidden, and the
client launches from a copy of them carrying a marker file: a trial that completes there ran
the launcher's code, shipped by ``runtime_env``. The test process reads the study from inside
the client host's namespace (:func:`inside`): no packet leaves the namespaces.
"""

from __future__ import annotations

import datetime
import os
import shutil
import sys
import time
import uuid
from pathlib import Path

import pytest
from netcluster import ROOT, NetCluster, inside, unavailable
from spaces import ANALYTIC_SPACE

#: real Ray nodes and a real PostgreSQL server: the full suite only. Not ``serial``: its Ray
#: nodes live in their own namespaces, temp dirs and HOMEs, apart from tests/test_ray.py's.
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ray")]

PY = sys.executable


@pytest.fixture(scope="module")
def cluster():
    why = unavailable()
    if why:
        if os.environ.get("SWEEP_CI") == "1":
            pytest.fail(f"SWEEP_CI=1 but no test cluster: {why}")
        pytest.skip(f"no test cluster: {why}")
    t0 = time.monotonic()
    c = NetCluster()
    try:
        c.start_postgres()
        c.address = c.start_ray()
        code = c["client"].dir / "code"  # the launcher's code: a copy with a marker
        for sub in ("sweep", "proxy_tasks"):
            shutil.copytree(ROOT / sub, code / sub, ignore=shutil.ignore_patterns("__pycache__"))
        c.marker = uuid.uuid4().hex
        (code / "sweep" / "_shipped_marker.txt").write_text(c.marker)
        c.code = code
        yield c
    finally:
        c.close()
        left = c.leftovers()
        print(f"\ncluster module: {time.monotonic() - t0:.1f} s", file=sys.stderr)
        assert not left, f"namespaces left: {left}"


# ----------------------------------------------------------------------------- helpers
def space(c, study: str, trials: int, sleep: float, workers: int = 2) -> Path:
    text = ANALYTIC_SPACE.format(study=study, trials=trials)
    text = text.replace("profile: cpu}", f"profile: cpu, options: {{sleep_s: {sleep}}}}}")
    text = text.replace("workers: 2}", f"workers: {workers}, max_failed: 8}}")
    f = c["client"].dir / f"{study}.yaml"
    f.write_text(text + "confirm: false\n")
    return f


def client_env(c, **extra):
    return c["client"].env(PYTHONPATH=str(c.code), **extra)


def sweep(c, *args: str, timeout: float = 240, env=None):
    return c["client"].run([PY, "-m", "sweep", *args], env=env or client_env(c), timeout=timeout)


def launch_bg(c, study: str, *args: str):
    return c["client"].popen(
        [
            PY,
            "-m",
            "sweep",
            "launch",
            str(c["client"].dir / f"{study}.yaml"),
            "--no-progress",
            "--device",
            "cpu",
            "--address",
            c.address,
            "--storage",
            c.pg.url,
            *args,
        ],
        env=client_env(c),
    )


def trials(c, study: str):
    """The study's trials, read over the network from the client host (no pool kept)."""
    import optuna
    import sqlalchemy

    with inside(c["client"].ns):
        for attempt in range(60):
            try:
                storage = optuna.storages.RDBStorage(
                    c.pg.url,
                    engine_kwargs={"poolclass": sqlalchemy.pool.NullPool},
                    skip_compatibility_check=True,
                )
                try:
                    return optuna.load_study(study_name=study, storage=storage).get_trials()
                finally:
                    storage.engine.dispose()
            except KeyError:
                return []
            except Exception:  # (PostgreSQL restarting)
                if attempt == 59:
                    raise
                time.sleep(0.5)
    return []


def study_exists(c, study: str) -> bool:
    import optuna
    import sqlalchemy

    with inside(c["client"].ns):
        storage = optuna.storages.RDBStorage(
            c.pg.url, engine_kwargs={"poolclass": sqlalchemy.pool.NullPool}
        )
        try:
            return study in {s.study_name for s in optuna.get_all_study_summaries(storage)}
        finally:
            storage.engine.dispose()


def wait_for(c, study: str, cond, timeout: float = 120.0, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = cond(trials(c, study))
        if found is not None:
            return found
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the launcher ended first: {proc.stderr.read()[-3000:]}")
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for study {study}")


def running_on(role_host: str):
    """A condition: a trial mid-computation on the host named ``role_host``."""

    def cond(ts):
        for t in ts:
            w = t.user_attrs.get("sweep:worker", "")
            if t.state.name == "RUNNING" and w.startswith(role_host + ":") and t.params:
                return t
        return None

    return cond


def one_done_one_mid_trial(ts) -> bool | None:
    """A ``wait_for`` condition: a trial complete and one mid-trial (its parameters drawn)."""
    if complete(ts) and any(t.state.name == "RUNNING" and t.params for t in ts):
        return True
    return None


def complete(ts) -> dict[int, tuple]:
    return {t.number: (t.values, t.params, t.user_attrs) for t in ts if t.state.name == "COMPLETE"}


def check_after(c, study: str, budget: int, before: dict[int, tuple]):
    """What must hold after every fault: no completed trial lost or changed, the budget's
    trials complete and no more, nothing RUNNING or WAITING."""
    from sweep import record

    ts = trials(c, study)
    states = [t.state.name for t in ts]
    assert "RUNNING" not in states and "WAITING" not in states, states
    done = complete(ts)
    for n, row in before.items():
        assert done.get(n) == row, f"completed trial #{n} lost or changed"
    assert sum(s == "COMPLETE" for s in states) == budget, states
    assert record.used_search_budget(ts) == budget
    return ts


def one_error_line(err: str) -> str:
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("sweep: error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], err[-3000:]
    return errors[0]


# ----------------------------------------------------------------------------- the recipe
def test_recipe_trials_run_on_both_worker_hosts_with_the_launchers_code(cluster):
    c = cluster
    f = space(c, "recipe", trials=6, sleep=1.0)
    res = sweep(
        c,
        "launch",
        str(f),
        "--address",
        c.address,
        "--storage",
        c.pg.url,
        "--no-progress",
        "--device",
        "cpu",
    )
    assert res.returncode == 0, res.stderr[-3000:]
    assert c.pg.password not in res.stdout + res.stderr
    ts = check_after(c, "recipe", 6, {})
    hosts = {t.user_attrs["sweep:worker"].split(":")[0] for t in ts}
    assert hosts == {c["w1"].hostname, c["w2"].hostname}, hosts
    # The worker hosts cannot see the repository's code (hidden); the package Ray unpacked
    # there is the launcher's copy, marker included.
    for role in ("w1", "w2"):
        assert c[role].run(["ls", str(ROOT / "sweep")]).stdout == ""
        markers = list(c[role].ray_tmp.rglob("_shipped_marker.txt"))
        assert markers and all(m.read_text() == c.marker for m in markers), role
    # status, export, report and the dashboard read the study from the database host.
    st = sweep(c, "status", "recipe", "--storage", c.pg.url, "--json")
    assert st.returncode == 0, st.stderr[-2000:]
    assert '"COMPLETE": 6' in st.stdout.replace(" ", "").replace('":6', '": 6')
    out = c["client"].dir / "export"
    ex = sweep(c, "export", "recipe", "--storage", c.pg.url, "-o", str(out))
    assert ex.returncode == 0, ex.stderr[-2000:]
    assert len((out / "trials.csv").read_text().strip().splitlines()) == 7
    html = c["client"].dir / "recipe.html"
    rep = sweep(c, "report", "recipe", "--storage", c.pg.url, "-o", str(html), "--no-dashboard")
    assert rep.returncode == 0 and html.stat().st_size > 100_000, rep.stderr[-2000:]
    dash = c["client"].popen(
        [PY, "-m", "sweep", "dashboard", c.pg.url, "--port", "8089"], env=client_env(c)
    )
    try:
        probe = (
            "import json, time, urllib.request\n"
            "for _ in range(150):\n"
            "    try:\n"
            "        r = urllib.request.urlopen('http://127.0.0.1:8089/api/studies'); break\n"
            "    except OSError: time.sleep(0.2)\n"
            "print(r.read().decode())\n"
        )
        got = c["client"].run([PY, "-c", probe], timeout=60)
        assert '"study_name": "recipe"' in got.stdout.replace('":"', '": "'), got.stdout[:2000]
    finally:
        dash.terminate()
        dash.communicate(timeout=60)


# ----------------------------------------------------------------------------- faults
def test_a_killed_worker_host_fails_its_trials_which_are_retried_elsewhere(cluster):
    c = cluster
    space(c, "killw", trials=6, sleep=3.0)
    proc = launch_bg(c, "killw")
    try:
        victim = wait_for(c, "killw", running_on(c["w1"].hostname), proc=proc)
        before = complete(trials(c, "killw"))
        killed_at = datetime.datetime.now()
        c["w1"].kill_all()
        _, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-3000:]
    ts = check_after(c, "killw", 6, before)
    dead = ts[victim.number]
    assert dead.state.name == "FAIL" and dead.user_attrs["error"] == "worker died mid-trial"
    (retry,) = [t for t in ts if t.user_attrs.get("sweep:retry_of") == victim.number]
    assert retry.params == dead.params
    assert retry.user_attrs["sweep:worker"].startswith(c["w2"].hostname + ":")
    gap = (retry.datetime_start - killed_at).total_seconds()
    print(f"\nkilled host -> retry started: {gap:.2f} s")
    c["w1"].ray_start(c["head"])  # back in the cluster for the next tests


def test_a_worker_host_cut_from_the_network_is_failed_and_its_late_results_are_refused(
    cluster,
):
    c = cluster
    space(c, "cutw", trials=6, sleep=4.0)
    proc = launch_bg(c, "cutw")
    try:
        victim = wait_for(c, "cutw", running_on(c["w2"].hostname), proc=proc)
        before = complete(trials(c, "cutw"))
        c.cut("w2")
        failed = wait_for(
            c,
            "cutw",
            lambda ts: ts[victim.number] if ts[victim.number].state.name == "FAIL" else None,
            60,
        )
        c.cut("w2", down=False)  # it comes back while its trial still sleeps
        _, err = proc.communicate(timeout=180)
    finally:
        c.cut("w2", down=False)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-3000:]
    time.sleep(5)  # the host's trial would have finished by now, if it still ran
    ts = check_after(c, "cutw", 6, before)
    cut = ts[victim.number]
    assert cut.state.name == "FAIL" and "headline" not in cut.user_attrs
    assert cut.user_attrs == failed.user_attrs and cut.values is None  # nothing came late
    (retry,) = [t for t in ts if t.user_attrs.get("sweep:retry_of") == victim.number]
    assert retry.state.name == "COMPLETE" and retry.params == cut.params
    c["w2"].kill_all()
    c["w2"].ray_start(c["head"])


def test_postgres_restarted_mid_study_leaves_the_study_intact(cluster):
    c = cluster
    space(c, "pgr", trials=8, sleep=2.0)
    proc = launch_bg(c, "pgr")
    try:
        wait_for(
            c,
            "pgr",
            one_done_one_mid_trial,
            proc=proc,
        )
        before = complete(trials(c, "pgr"))
        c.pg.restart()
        _, err = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
    # the driver and its actors wait for the database (ray_backend.patient) and the launch ends
    assert proc.returncode == 0, err[-3000:]
    # What the issue asks: nothing RUNNING after `resume`. Usually the launch leaves nothing to
    # resume; once in five full-suite runs (2026-12-07, the cluster test beside the engine's)
    # it ended with one trial still RUNNING or WAITING, which a resume completes.
    left = [t.number for t in trials(c, "pgr") if t.state.name in ("RUNNING", "WAITING")]
    if left:
        print(f"\nleft by the launch for resume: trials {left}")
        res = sweep(
            c,
            "resume",
            "pgr",
            "--storage",
            c.pg.url,
            "--address",
            c.address,
            "--no-progress",
            "--device",
            "cpu",
        )
        assert res.returncode == 0, res.stderr[-3000:]
    check_after(c, "pgr", 8, before)


@pytest.mark.parametrize(
    ("what", "args", "message"),
    [
        ("address", ["--address", "10.77.0.99:6379"], "cannot reach the Ray cluster"),
        ("token", [], "token"),
        ("database", ["--storage", "postgresql+psycopg://sweep:x@10.77.0.98:5432/sweep"], ""),
    ],
)
def test_a_client_with_a_wrong_address_token_or_database_is_one_line(cluster, what, args, message):
    c = cluster
    f = space(c, f"bad{what}", trials=2, sleep=0)
    env = client_env(c, RAY_AUTH_TOKEN="0" * 64) if what == "token" else client_env(c)
    base = {"--address": c.address, "--storage": c.pg.url}
    for k, v in zip(args[::2], args[1::2], strict=True):
        base[k] = v
    flat = [x for kv in base.items() for x in kv]
    t0 = time.monotonic()
    res = sweep(
        c, "launch", str(f), *flat, "--no-progress", "--device", "cpu", env=env, timeout=120
    )
    assert res.returncode == 2, (res.returncode, res.stderr[-3000:])
    line = one_error_line(res.stderr)
    assert message in line, line
    assert time.monotonic() - t0 < 60
    print(f"\n{what}: {line}")
    assert not study_exists(c, f"bad{what}")  # nothing written


def test_a_killed_head_is_one_line_and_resume_on_a_new_head_completes(cluster):
    c = cluster
    space(c, "killh", trials=6, sleep=3.0)
    proc = launch_bg(c, "killh")
    try:
        wait_for(
            c,
            "killh",
            one_done_one_mid_trial,
            proc=proc,
        )
        before = complete(trials(c, "killh"))
        c["head"].kill_all()
        _, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    line = one_error_line(err)
    assert "lost the Ray head at 10.77.0.2:6379" in line and "sweep resume killh" in line, line
    # A new head; the worker hosts rejoin it (their old nodes are gone with the old head).
    for role in ("w1", "w2"):
        c[role].kill_all()
    c["head"].ray_start(cpus=0)
    for role in ("w1", "w2"):
        c[role].ray_start(c["head"])
    res = sweep(
        c,
        "resume",
        "killh",
        "--storage",
        c.pg.url,
        "--address",
        c.address,
        "--no-progress",
        "--device",
        "cpu",
    )
    assert res.returncode == 0, res.stderr[-3000:]
    check_after(c, "killh", 6, before)
