"""Scaling of ``sweep report``: JSON lines on stdout, one per study size, a summary line last.

    python benchmarks/report_scale.py                     # 2,000 and 10,000 trials
    python benchmarks/report_scale.py --sizes 500 --keep out/

For each size N it builds an N-trial study of the free ``analytic`` task with 2 searched range
pairs (``freq`` and ``orbits``) and the random sampler, then times ``sweep report`` on it as a
subprocess (the command a user runs, with the dashboard figures attached), its peak RSS
(``os.wait4``'s rusage of that child) and the HTML's size, per section.

Building the study: a REAL small launch (``sweep.engine.run``, ``--template`` search trials
and the confirmation the engine adds, about 15 s) writes the study attributes the launcher
writes (``sweep:config``, the file, hash, versions, answer, ...) and trials as the engine
records them; the remaining ``N - launched`` search trials are then added with
``optuna.create_trial``: each a copy of a launched search trial's user
attributes with new searched values drawn uniformly (seeded) in Optuna's raw coordinates
(``freq.min``, ``freq.span``, as the random sampler draws them), resolved by
:meth:`sweep.space.ParamSpec.value`, and its metrics, dataset and per-seed values computed by
the analytic task itself (:class:`proxy_tasks.analytic.AnalyticProxy`). The first
:data:`VIA_OPTUNA` go in through ``Study.add_trials``, the rest as the same SQL rows in one
transaction (:func:`bulk_insert`; Optuna's ORM takes about 43 ms a trial), and a sample of
them is read back through Optuna and compared with what was made (:func:`check_rows`).
Launching 10,000 trials through the engine would take minutes (about 41 ms a trial on 2
cores) and measure the engine, not the report.

For comparison, the raw rate: ``load_s`` is a fresh interpreter importing Optuna, loading the
study and reading every trial (``get_trials``), so ``ratio`` = report seconds / load seconds.
The machine's load average is recorded with each line: other processes slow everything down.

Targets (issue 22): at 10,000 trials at most 60 s, 2 GB peak RSS and 20 MiB of HTML.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SPACE = """\
study: {study}
question: does the band or the orbit count matter (report scale benchmark)?
generator: {{name: visualatom}}
search:
  freq: {{type: int_range, low: 0, high: 20, min_width: 1, targets: [freq1, freq2]}}
  orbits: {{type: int_range, low: 1, high: 400}}
proxy: {{task: analytic, profile: cpu, options: {{noise: 1.0}}}}
sampler: random
objectives: [{{headline: maximize}}]
budget: {{trials: {trials}, workers: 1}}
confirm: {{top: 2, seeds: 3, max_seeds: 6}}
"""
MIB = 1024 * 1024
#: the first added trials go through Optuna's add_trials, the rest through bulk_insert
VIA_OPTUNA = 20
TARGET = {"seconds": 60.0, "peak_rss_mib": 2000.0, "html_mib": 20.0}


def launch(tmp: Path, name: str, trials: int) -> tuple[str, float]:
    """A real small launch into a fresh SQLite file: ``(storage URL, seconds)``."""
    from sweep.engine import run

    path = tmp / f"{name}.yaml"
    path.write_text(SPACE.format(study=name, trials=trials), encoding="utf-8")
    url = f"sqlite:///{tmp / f'{name}.db'}"
    t0 = time.perf_counter()
    out = run(
        str(path),
        storage=url,
        profile="cpu",
        workers=1,
        trials=trials,
        device="cpu",
        progress=False,
        quiet=True,
    )
    if out["counts"]["COMPLETE"] < trials:
        raise RuntimeError(f"{name}: {out['counts']}")
    return url, time.perf_counter() - t0


def grow(url: str, name: str, n: int, seed: int) -> tuple[int, float]:
    """Add search trials until the study holds ``n``: ``(added, seconds)`` (see the module
    docstring: the launched trials' attributes, new values, the analytic task's metrics)."""
    import numpy as np
    import optuna
    from optuna.trial import TrialState, create_trial

    from proxy_tasks.analytic import AnalyticProxy
    from proxy_tasks.spec import TrialSpec
    from sweep import record
    from sweep.space import ParamSpec
    from sweep.storage import make_storage

    t0 = time.perf_counter()
    study = optuna.load_study(study_name=name, storage=make_storage(url, heartbeat=False))
    cfg = study.user_attrs[record.STUDY_CONFIG]
    fields = ("name", "type", "low", "high", "log", "step", "targets", "min_width")
    specs = [
        ParamSpec(**{k: (tuple(e[k]) if k == "targets" else e[k]) for k in fields})
        for e in cfg["search"]
    ]
    dists: dict = {}
    for p in specs:
        dists.update(p.distributions())
    trials = study.get_trials(deepcopy=False)
    template = next(
        t
        for t in trials
        if t.state == TrialState.COMPLETE and t.user_attrs.get(record.ARM) == record.ARM_SEARCH
    )
    base = dict(cfg["generator"]["resolved"])
    seeds = list(template.user_attrs[record.SEEDS])
    sign = 1.0 if cfg["objectives"][0]["direction"] == "minimize" else -1.0
    rng = np.random.default_rng(seed)
    proxy = AnalyticProxy()
    start = datetime.datetime.now() - datetime.timedelta(hours=2)
    out = []
    for k in range(n - len(trials)):
        raw: dict = {}
        for pname, d in dists.items():
            if isinstance(d, optuna.distributions.IntDistribution):
                raw[pname] = int(rng.integers(d.low, d.high + 1))
            else:
                raw[pname] = float(rng.uniform(d.low, d.high))
        values = {p.name: p.value(raw) for p in specs}
        gen = dict(base)
        for p in specs:
            for target in p.targets or (p.name,):
                gen[target] = values[p.name]
        per_seed: dict = {}
        runs = []
        for s in seeds:
            spec = TrialSpec(
                generator=cfg["generator"]["name"],
                params=gen,
                task="analytic",
                profile="cpu",
                data_seed=s,
                train_seed=s,
                options=cfg["proxy"].get("options") or {},
            )
            res = proxy.run(spec)
            runs.append(res)
            per_seed[str(s)] = {
                m: res.metrics[m] for m in (record.HEADLINE, record.SCRATCH_METRIC)
            }
        attrs = copy.deepcopy(template.user_attrs)
        for m in runs[0].metrics:
            vals = [r.metrics[m] for r in runs]
            attrs[m] = float(np.mean(vals))
            if len(vals) > 1:
                attrs[record.std_attr(m)] = float(np.std(vals, ddof=1))
        dataset = runs[0].info[record.DATASET]
        attrs[record.DATASET] = dataset
        attrs[record.DATASET_FINGERPRINT] = dataset[record.FINGERPRINT]
        attrs[record.PER_SEED] = per_seed
        attrs[record.CONFIG_KEY] = record.config_key(values)
        attrs.update({record.param_attr(p): v for p, v in values.items()})
        value = attrs[record.HEADLINE]
        t_start = start + datetime.timedelta(seconds=0.04 * k)
        out.append(
            create_trial(
                state=TrialState.COMPLETE,
                params=raw,
                distributions=dists,
                value=value,
                user_attrs=attrs,
                intermediate_values={1: sign * (1.0 - value / 100.0)},
            )
        )
        out[-1].datetime_start = t_start
        out[-1].datetime_complete = t_start + datetime.timedelta(seconds=0.03)
    study.add_trials(out[:VIA_OPTUNA])
    bulk_insert(url, study._study_id, out[VIA_OPTUNA:], len(trials) + VIA_OPTUNA)
    check_rows(url, name, out)
    return len(out), time.perf_counter() - t0


def bulk_insert(url: str, study_id: int, trials: list, first: int) -> None:
    """Write ``trials`` as trial numbers ``first, first + 1, ...`` with the SQL rows Optuna's
    ``RDBStorage`` writes for ``add_trial`` (the same tables, columns and encodings: JSON of
    each user attribute, parameters in their internal representation with the distribution's
    JSON, ``FINITE`` values), in one transaction: Optuna's ORM takes about 43 ms a trial."""
    import sqlite3

    from optuna.distributions import distribution_to_json

    db = sqlite3.connect(url[len("sqlite:///") :])
    try:
        with db:
            for k, t in enumerate(trials):
                cur = db.execute(
                    "INSERT INTO trials (number, study_id, state, datetime_start, "
                    "datetime_complete) VALUES (?, ?, ?, ?, ?)",
                    (
                        first + k,
                        study_id,
                        t.state.name,
                        str(t.datetime_start),
                        str(t.datetime_complete),
                    ),
                )
                tid = cur.lastrowid
                db.executemany(
                    "INSERT INTO trial_params (trial_id, param_name, param_value, "
                    "distribution_json) VALUES (?, ?, ?, ?)",
                    [
                        (tid, n, d.to_internal_repr(t.params[n]), distribution_to_json(d))
                        for n, d in t.distributions.items()
                    ],
                )
                db.executemany(
                    "INSERT INTO trial_values (trial_id, objective, value, value_type) "
                    "VALUES (?, ?, ?, 'FINITE')",
                    [(tid, i, v) for i, v in enumerate(t.values)],
                )
                db.executemany(
                    "INSERT INTO trial_intermediate_values (trial_id, step, "
                    "intermediate_value, intermediate_value_type) VALUES (?, ?, ?, 'FINITE')",
                    [(tid, step, v) for step, v in t.intermediate_values.items()],
                )
                db.executemany(
                    'INSERT INTO trial_user_attributes (trial_id, "key", value_json) '
                    "VALUES (?, ?, ?)",
                    [(tid, key, json.dumps(v)) for key, v in t.user_attrs.items()],
                )
    finally:
        db.close()


def check_rows(url: str, name: str, made: list) -> None:
    """The trials read back through Optuna equal the ones made, whichever way they were written
    (``add_trials`` or :func:`bulk_insert`): an error otherwise."""
    import optuna

    from sweep.storage import make_storage

    study = optuna.load_study(study_name=name, storage=make_storage(url, heartbeat=False))
    stored = study.get_trials(deepcopy=False)[-len(made) :]
    for k in sorted({0, VIA_OPTUNA - 1, VIA_OPTUNA, len(made) // 2, len(made) - 1}):
        if not 0 <= k < len(made):
            continue
        a, b = made[k], stored[k]
        same = (
            a.state == b.state
            and a.params == b.params
            and a.distributions == b.distributions
            and a.values == b.values
            and a.user_attrs == b.user_attrs
            and a.intermediate_values == b.intermediate_values
            and a.datetime_start == b.datetime_start
        )
        if not same:
            raise RuntimeError(f"added trial {k} reads back differently: {a} != {b}")


def sections(html: str) -> dict[str, float]:
    """The page's size in MiB per ``<section id>``, plotly.js and the embedded data."""
    out = {
        m.group(1): len(m.group(0).encode()) / MIB
        for m in re.finditer(r'<section id="([^"]+)".*?</section>', html, re.S)
    }
    data = re.search(r'<script[^>]*id="sweep-report-data"[^>]*>.*?</script>', html, re.S)
    if data:
        out["(data json)"] = len(data.group(0).encode()) / MIB
    from plotly.offline import get_plotlyjs

    out["(plotly.js)"] = len(get_plotlyjs().encode()) / MIB
    return {k: round(v, 3) for k, v in out.items()}


def timed_child(cmd: list[str]) -> tuple[float, float, str]:
    """Run ``cmd``: ``(seconds, peak RSS in MiB, stdout)``; an error exits with its stderr."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.stdout is not None and p.stderr is not None
    # the pipes are small (a path, a count); read them once the child is gone
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    out, err = p.stdout.read(), p.stderr.read()
    if p.returncode:
        sys.exit(f"{' '.join(cmd)} failed ({p.returncode}):\n{err[-3000:]}")
    return wall, usage.ru_maxrss / 1024, out


def measure(n: int, tmp: Path, template: int, seed: int, dashboard: bool) -> dict:
    name = f"report-scale-{n}"
    url, launch_s = launch(tmp, name, template)
    added, grow_s = grow(url, name, n, seed)
    load = (
        "import optuna,sys; optuna.logging.set_verbosity(optuna.logging.WARNING); "
        "s=optuna.load_study(study_name=sys.argv[1], storage=sys.argv[2]); "
        "print(len(s.get_trials(deepcopy=False)))"
    )
    load_s, load_rss, count = timed_child([sys.executable, "-c", load, name, url])
    out = tmp / f"{name}.html"
    cmd = [sys.executable, "-m", "sweep", "report", name, "--storage", url, "-o", str(out)]
    if not dashboard:
        cmd.append("--no-dashboard")
    report_s, rss, _ = timed_child(cmd)
    html = out.read_text(encoding="utf-8")
    size = len(html.encode()) / MIB
    return {
        "trials": int(count),
        "launched": int(count) - added,
        "launch_s": round(launch_s, 2),
        "add_trials_s": round(grow_s, 2),
        "load_s": round(load_s, 2),
        "load_peak_rss_mib": round(load_rss, 1),
        "report_s": round(report_s, 2),
        "ratio": round(report_s / load_s, 1),
        "peak_rss_mib": round(rss, 1),
        "html_mib": round(size, 2),
        "sections_mib": sections(html),
        "dashboard": dashboard,
        "within_target": report_s <= TARGET["seconds"]
        and rss <= TARGET["peak_rss_mib"]
        and size <= TARGET["html_mib"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="2000,10000", help="study sizes in trials (2000,10000)")
    ap.add_argument("--template", type=int, default=12, help="trials launched for real (12)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the added trials' values")
    ap.add_argument("--no-dashboard", action="store_true", help="sweep report --no-dashboard")
    ap.add_argument("--keep", help="a directory to keep the studies and reports in")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="report-scale-") as t:
        tmp = Path(args.keep or t)
        tmp.mkdir(parents=True, exist_ok=True)
        for n in (int(v) for v in args.sizes.split(",")):
            for f in tmp.glob(f"report-scale-{n}.*"):
                f.unlink()
            row = measure(n, tmp, args.template, args.seed, not args.no_dashboard)
            row["load_avg_1m"] = round(os.getloadavg()[0], 2)
            rows.append(row)
            print(json.dumps(row), flush=True)
    print(
        json.dumps(
            {
                "summary": "report_scale",
                "date": datetime.date.today().isoformat(),
                "cpus": os.cpu_count(),
                "target": TARGET,
                "report_s": {r["trials"]: r["report_s"] for r in rows},
                "peak_rss_mib": {r["trials"]: r["peak_rss_mib"] for r in rows},
                "html_mib": {r["trials"]: r["html_mib"] for r in rows},
                "within_target": all(r["within_target"] for r in rows),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
