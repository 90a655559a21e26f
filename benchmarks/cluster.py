"""The Ray backend on a real (namespaced) cluster against one host, printing JSON lines.

Builds the test cluster of ``tests/netcluster.py`` (Ray head, two 1-CPU Ray worker hosts, a
PostgreSQL host and a client host, each a network namespace on a private bridge; root needed),
then measures, on the free ``analytic`` task (``sleep_s: 0``):

* ``per_trial``: the marginal seconds a trial costs, (T(long) - T(short)) / (long - short)
  from two ``sweep launch`` wall times, on the cluster (2 Ray actors on 2 worker hosts) and on
  one host (the client, ``--backend local``, 2 worker processes), both on the same PostgreSQL;
* ``retry``: a worker host's processes SIGKILLed mid-trial (``sleep_s: 3``) -> the start of
  its trial's retry on the other worker host (seconds, from the study's timestamps);
* ``tests`` (``--tests``): the wall time of ``pytest tests/test_cluster.py``.

Usage: ``sudo .venv/bin/python benchmarks/cluster.py [--short 4] [--long 16] [--tests]``
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from netcluster import NetCluster, inside, unavailable  # noqa: E402
from spaces import ANALYTIC_SPACE  # noqa: E402

PY = sys.executable


def emit(**row) -> None:
    print(json.dumps(row), flush=True)


def write_space(c: NetCluster, study: str, trials: int, sleep: float) -> Path:
    text = ANALYTIC_SPACE.format(study=study, trials=trials)
    text = text.replace("profile: cpu}", f"profile: cpu, options: {{sleep_s: {sleep}}}}}")
    f = c["client"].dir / f"{study}.yaml"
    f.write_text(text + "confirm: false\n")
    return f


def launch(c: NetCluster, study: str, trials: int, sleep: float, *args: str) -> float:
    f = write_space(c, study, trials, sleep)
    t0 = time.perf_counter()
    res = c["client"].run(
        [
            PY,
            "-m",
            "sweep",
            "launch",
            str(f),
            "--storage",
            c.pg.url,
            "--no-progress",
            "--device",
            "cpu",
            *args,
        ],
        timeout=600,
    )
    wall = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(f"launch {study} failed: {res.stderr[-2000:]}")
    return wall


def trials(c: NetCluster, study: str):
    import optuna
    import sqlalchemy

    with inside(c["client"].ns):
        st = optuna.storages.RDBStorage(
            c.pg.url, engine_kwargs={"poolclass": sqlalchemy.pool.NullPool}
        )
        try:
            return optuna.load_study(study_name=study, storage=st).get_trials()
        except KeyError:
            return []
        finally:
            st.engine.dispose()


def retry_time(c: NetCluster, address: str) -> float:
    f = write_space(c, "bench-retry", 6, 3.0)
    proc = c["client"].popen(
        [
            PY,
            "-m",
            "sweep",
            "launch",
            str(f),
            "--storage",
            c.pg.url,
            "--no-progress",
            "--device",
            "cpu",
            "--address",
            address,
        ],
    )
    victim = None
    deadline = time.monotonic() + 120
    while victim is None and time.monotonic() < deadline:
        for t in trials(c, "bench-retry"):
            w = t.user_attrs.get("sweep:worker", "")
            if t.state.name == "RUNNING" and w.startswith(c["w1"].hostname + ":") and t.params:
                victim = t.number
        time.sleep(0.2)
    if victim is None:
        proc.kill()
        raise SystemExit("no trial ran on w1")
    killed = datetime.datetime.now()
    c["w1"].kill_all()
    proc.communicate(timeout=300)
    (retry,) = [
        t for t in trials(c, "bench-retry") if t.user_attrs.get("sweep:retry_of") == victim
    ]
    c["w1"].ray_start(c["head"])
    return (retry.datetime_start - killed).total_seconds()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--short", type=int, default=4)
    ap.add_argument("--long", type=int, default=16)
    ap.add_argument("--tests", action="store_true", help="also time pytest tests/test_cluster.py")
    args = ap.parse_args()
    if why := unavailable():
        raise SystemExit(f"no test cluster: {why}")
    t0 = time.perf_counter()
    with NetCluster() as c:
        c.start_postgres()
        address = c.start_ray()
        emit(what="cluster_up", seconds=round(time.perf_counter() - t0, 2))
        for where, extra in (("cluster", ["--address", address]), ("one_host", [])):
            walls = {}
            for n in (args.short, args.long):
                walls[n] = launch(c, f"bench-{where}-{n}", n, 0.0, *extra)
            per = (walls[args.long] - walls[args.short]) / (args.long - args.short)
            emit(
                what="per_trial",
                where=where,
                backend="ray (2 actors on 2 worker hosts)" if extra else "local (2 processes)",
                trials={str(k): round(v, 2) for k, v in walls.items()},
                seconds_per_trial=round(per, 3),
            )
        emit(what="retry", seconds=round(retry_time(c, address), 2))
    emit(what="bench_total", seconds=round(time.perf_counter() - t0, 1))
    if args.tests:
        t1 = time.perf_counter()
        res = subprocess.run(
            [PY, "-m", "pytest", "tests/test_cluster.py", "-q", "-x"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        tail = res.stdout.strip().splitlines()[-1:]
        emit(
            what="tests",
            rc=res.returncode,
            seconds=round(time.perf_counter() - t1, 1),
            summary=tail[0] if tail else "",
        )


if __name__ == "__main__":
    main()
