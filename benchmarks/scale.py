"""Scaling of the Ray backend: JSON lines on stdout, a summary line last.

    python benchmarks/scale.py                      # about 8 minutes on 2 CPU cores
    python benchmarks/scale.py --trials 8 --overhead 8,40

Everything runs on ONE local Ray that the script starts with this machine's CPUs (2 here) and
that every run joins, with real ``sweep.engine.run`` launches:

* ``throughput``: ``search_spaces/freq.yaml`` with the cpu preset (a real proxy trial: render,
  pre-train, fine-tune, probes), ``--trials`` trials on 1 and on 2 Ray workers, each trial
  holding 1 CPU (one torch thread), and the same on 2 local workers (1 thread each) for
  comparison. Trials per hour are steady-state: ``trials / (last completion - first start)``
  from the trials' own timestamps in the study, so the fixed start (actors, imports) is left
  out; it is reported as ``startup_s``. ``worker_s_per_trial`` = workers x steady wall / trials.
  Target: 2 Ray workers >= 1.7x the trials per hour of 1.
* ``overhead``: the orchestration cost per trial, with the free ``analytic`` task (no
  rendering, no training) on 2 workers: the slope between a small and a large budget,
  ``(t_large - t_small) / (n_large - n_small)``, on the Ray and on the local backend; the
  difference is the Ray backend's overhead against the local one. Target: at most 1 s a trial.

* ``sampler``: what one trial costs the sampler as a study grows: ``ask`` (TPE, multivariate,
  the file's sampler) + ``tell`` on freq.yaml's space with N finished trials already stored,
  in a fresh study object as a new worker would see it; SQLite, and PostgreSQL with
  ``SWEEP_PG_URL``.
* ``connections`` (only with ``SWEEP_PG_URL=postgresql+psycopg://...``): the most PostgreSQL
  connections the launcher and 2 Ray workers held at once during an analytic study.

The first, untimed trial warms the caches (the scratch baseline of the cpu preset, Numba).
The machine's load average is recorded with each line: other processes slow trials down.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FREQ = ROOT / "search_spaces" / "freq.yaml"
ANALYTIC = """\
study: {study}
generator: {{name: visualatom}}
search:
  freq: {{type: int_range, low: 0, high: 20, min_width: 1, targets: [freq1, freq2]}}
  orbits: {{type: int_range, low: 1, high: 400}}
proxy: {{task: analytic, profile: cpu}}
objectives: [{{headline: maximize}}]
budget: {{trials: 10, workers: 2}}
"""


def launch(
    path: Path, tmp: Path, tag: str, backend: str, workers: int, trials: int, cache: str | None
) -> dict:
    """One ``sweep launch`` into its own SQLite file; wall time and steady-state figures."""
    import optuna

    from sweep.engine import run
    from sweep.storage import make_storage

    url = f"sqlite:///{tmp / f'{tag}.db'}"
    t0 = time.perf_counter()
    out = run(
        str(path),
        storage=url,
        profile="cpu",
        workers=workers,
        trials=trials,
        device="cpu",
        progress=False,
        quiet=True,
        cache_dir=cache,
        backend=backend,
    )
    wall = time.perf_counter() - t0
    if out["counts"]["COMPLETE"] != trials:
        raise RuntimeError(f"{tag}: {out['counts']}")
    study = optuna.load_study(study_name=out["study"], storage=make_storage(url, heartbeat=False))
    ts = study.get_trials()
    first = min(t.datetime_start for t in ts)
    last = max(t.datetime_complete for t in ts)
    steady = (last - first).total_seconds()
    started = datetime.datetime.now() - datetime.timedelta(seconds=wall)
    return {
        "wall_s": round(wall, 2),
        "steady_s": round(steady, 2),
        "startup_s": round((first - started).total_seconds(), 2),
        "trials_per_hour": round(3600 * trials / steady, 1),
        "worker_s_per_trial": round(workers * steady / trials, 2),
        "trial_s_mean": round(
            sum((t.datetime_complete - t.datetime_start).total_seconds() for t in ts) / trials, 2
        ),
    }


def emit(record: dict) -> None:
    record["load_avg_1m"] = round(os.getloadavg()[0], 2)
    print(json.dumps(record), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=6, help="cpu-preset trials per run (6)")
    ap.add_argument("--overhead", default="8,40", help="small,large analytic budgets (8,40)")
    ap.add_argument(
        "--parts",
        default="throughput,overhead,sampler,connections",
        help="which measurements (default: all)",
    )
    ap.add_argument("--sampler-sizes", default="100,1000,3000", help="finished trials")
    args = ap.parse_args()
    small, large = (int(v) for v in args.overhead.split(","))
    parts = set(args.parts.split(","))
    pg = os.environ.get("SWEEP_PG_URL")

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a private local Ray (no token file)
    import logging

    import ray

    cpus = os.cpu_count() or 1
    t0 = time.perf_counter()
    ray.init(
        address="local",
        num_cpus=cpus,
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.WARNING,
    )
    ray_start = time.perf_counter() - t0
    import optuna
    import torch

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    common = {
        "cores": cpus,
        "ray": ray.__version__,
        "optuna": optuna.__version__,
        "torch": torch.__version__,
        "ray_init_s": round(ray_start, 2),
    }
    summary: dict = {"kind": "summary", **common}
    try:
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            cache = str(tmp / "cache")
            if "throughput" in parts:
                launch(FREQ, tmp, "warmup", "local", 1, 1, cache)  # scratch baseline, Numba
                tph = {}
                for backend, workers in (("ray", 1), ("ray", 2), ("local", 2)):
                    r = launch(
                        FREQ, tmp, f"{backend}{workers}", backend, workers, args.trials, cache
                    )
                    tph[(backend, workers)] = r
                    emit(
                        {
                            "kind": "throughput",
                            "task": "vit",
                            "preset": "cpu",
                            "backend": backend,
                            "workers": workers,
                            "trials": args.trials,
                            "cpus_per_trial": 1,
                            **r,
                            **common,
                        }
                    )
                summary["speedup_2_vs_1_ray_workers"] = round(
                    tph[("ray", 2)]["trials_per_hour"] / tph[("ray", 1)]["trials_per_hour"], 2
                )
                summary["trials_per_hour"] = {
                    f"{b}{w}": r["trials_per_hour"] for (b, w), r in tph.items()
                }
                ray2, local2 = tph[("ray", 2)], tph[("local", 2)]
                summary["vit_overhead_s_per_trial_vs_local"] = round(
                    ray2["worker_s_per_trial"] - local2["worker_s_per_trial"], 2
                )
            slopes = {}
            for backend in ("local", "ray") if "overhead" in parts else ():
                walls = []
                for n in (small, large):
                    study = f"oh-{backend}-{n}"
                    f = tmp / f"{study}.yaml"
                    f.write_text(ANALYTIC.format(study=study))
                    t = time.perf_counter()
                    launch(f, tmp, study, backend, 2, n, None)
                    walls.append(time.perf_counter() - t)
                slope = (walls[1] - walls[0]) / (large - small)
                slopes[backend] = slope
                emit(
                    {
                        "kind": "overhead",
                        "task": "analytic",
                        "backend": backend,
                        "workers": 2,
                        "trials": [small, large],
                        "wall_s": [round(w, 2) for w in walls],
                        "overhead_s_per_trial": round(slope, 4),
                        "startup_s": round(walls[0] - slope * small, 2),
                        **common,
                    }
                )
            if slopes:
                diff = slopes["ray"] - slopes["local"]
                summary["ray_overhead_s_per_trial_vs_local"] = round(diff, 4)
            for kind, url in (("sqlite", f"sqlite:///{tmp / 'sampler.db'}"), ("postgresql", pg)):
                if "sampler" not in parts or not url:
                    continue
                for n in (int(v) for v in args.sampler_sizes.split(",")):
                    emit(
                        {
                            "kind": "sampler",
                            "storage": kind,
                            "sampler": "tpe multivariate",
                            "finished_trials": n,
                            **sampler_cost(url, n),
                            **common,
                        }
                    )
            if "connections" in parts and pg:
                emit(
                    {
                        "kind": "connections",
                        "storage": "postgresql",
                        "workers": 2,
                        **connections(pg, tmp),
                        **common,
                    }
                )
    finally:
        ray.shutdown()
    targets = {}
    if "speedup_2_vs_1_ray_workers" in summary:
        targets["speedup_2_workers_ge_1.7"] = summary["speedup_2_vs_1_ray_workers"] >= 1.7
    if "ray_overhead_s_per_trial_vs_local" in summary:
        targets["overhead_le_1s"] = summary["ray_overhead_s_per_trial_vs_local"] <= 1.0
    emit({**summary, "targets_met": targets})


def sampler_cost(url: str, n: int, asks: int = 20) -> dict:
    """Seconds of ask + tell per trial with ``n`` finished trials in a fresh study."""
    import numpy as np
    import optuna

    from sweep.samplers import make_sampler
    from sweep.space import search_space
    from sweep.storage import make_storage
    from sweep.study_config import load_study_config

    spec = load_study_config(FREQ, storage=url)
    space = search_space(spec)
    name = f"sampler-{n}-{os.getpid()}-{time.time_ns()}"
    study = optuna.create_study(
        study_name=name, storage=make_storage(url, heartbeat=False), direction="maximize"
    )
    rng = np.random.default_rng(0)
    study.add_trials(
        [
            optuna.trial.create_trial(
                params={"freq.min": int(rng.integers(0, 20)), "freq.span": float(rng.random())},
                distributions=space,
                value=float(rng.random()),
            )
            for _ in range(n)
        ]
    )
    worker = optuna.load_study(
        study_name=name,
        storage=make_storage(url, heartbeat=False),
        sampler=make_sampler(spec, seed=1000),
    )
    t0 = time.perf_counter()
    trial = worker.ask(space)
    worker.tell(trial, 0.5)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(asks):
        trial = worker.ask(space)
        worker.tell(trial, float(rng.random()))
    optuna.delete_study(study_name=name, storage=make_storage(url, heartbeat=False))
    return {
        "first_ask_s": round(first, 3),
        "ask_tell_s_per_trial": round((time.perf_counter() - t0) / asks, 4),
    }


def connections(url: str, tmp: Path, trials: int = 40) -> dict:
    """Most connections open at once from the launcher and 2 Ray workers during an analytic
    study: their URL carries an ``application_name`` that the poller counts."""
    import threading

    import optuna
    import sqlalchemy as sa

    from sweep.engine import run
    from sweep.storage import make_storage

    tag = f"sweep-scale-{os.getpid()}"
    tagged = f"{url}{'&' if '?' in url else '?'}application_name={tag}"
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")  # a fresh snapshot per poll
    peak, done = [0], threading.Event()
    q = sa.text("SELECT count(*) FROM pg_stat_activity WHERE application_name = :t")

    def poll() -> None:
        with engine.connect() as con:
            while not done.is_set():
                peak[0] = max(peak[0], int(con.execute(q, {"t": tag}).scalar()))
                time.sleep(0.05)

    f = tmp / "conn.yaml"
    study = f"conn-{os.getpid()}-{time.time_ns()}"
    f.write_text(ANALYTIC.format(study=study))
    th = threading.Thread(target=poll, daemon=True)
    th.start()
    try:
        run(
            str(f),
            storage=tagged,
            profile="cpu",
            workers=2,
            trials=trials,
            device="cpu",
            progress=False,
            quiet=True,
            cache_dir=None,
            backend="ray",
        )
    finally:
        done.set()
        th.join()
    optuna.delete_study(study_name=study, storage=make_storage(url, heartbeat=False))
    engine.dispose()
    return {"connections_peak": peak[0], "processes": "launcher + 2 Ray workers"}


if __name__ == "__main__":
    main()
