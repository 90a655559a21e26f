"""``sweep status``, ``export`` and ``dashboard``: a study's state and answer, its trials as
files, optuna-dashboard.

Imports: the standard library, Optuna (lazily), :mod:`sweep.record`, :mod:`sweep.storage`,
:mod:`sweep.values`, :mod:`sweep.answer` (lazily) and :mod:`sweep.engine.study`.
"""

from __future__ import annotations

import datetime
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from sweep import record
from sweep.engine.study import counts, load_study_by_name, worker_gone
from sweep.values import jsonable


def status(name: str, storage: str | None) -> dict[str, Any]:
    """A study's state as JSON-ready data: counts, trials per arm, its question and answer (the
    stored one, else computed: ``answer_stored``), the confirmation plan, best and running
    trials, the storage (masked)."""
    from sweep.answer import answer_line, answer_of_study
    from sweep.storage import default_storage, mask_url

    study = load_study_by_name(name, storage)
    trials = study.get_trials(deepcopy=False)
    answer = study.user_attrs.get(record.STUDY_ANSWER)
    stored = answer is not None
    if answer is None:  # an older study, or one still running: computed, not stored
        answer = answer_of_study(study)
    best = []
    try:
        best = [{"number": t.number, "values": t.values, "arm": record.arm_of(t.user_attrs),
                 "params": record.resolved_params(t.user_attrs)}
                for t in study.best_trials[:10]]  # fmt: skip
    except (ValueError, RuntimeError):
        pass
    now = datetime.datetime.now()
    running = [{"number": t.number, "worker": t.user_attrs.get(record.WORKER),
                "age_s": (now - t.datetime_start).total_seconds() if t.datetime_start else None,
                "stale": worker_gone(t.user_attrs.get(record.WORKER))}
               for t in trials if t.state.name == "RUNNING"]  # fmt: skip
    arms = Counter(record.arm_of(t.user_attrs) for t in trials)
    return jsonable({
        "study": study.study_name, "storage": mask_url(storage or default_storage("")),
        "counts": counts(study), "arms": dict(arms),
        "question": study.user_attrs.get(record.STUDY_QUESTION), "answer": answer,
        "answer_stored": stored, "answer_line": answer_line(answer),
        "confirm": study.user_attrs.get(record.STUDY_CONFIRM), "best": best, "running": running,
    }, nan_to_none=True)  # fmt: skip


def export(name: str, storage: str | None, out: str | None) -> dict[str, str]:
    """trials.csv and trials.json of a study (params, values, state, every user attribute)."""
    import csv

    if out is None:
        record.check_study_name(name, "study")  # the name becomes a directory: no '../'
    study = load_study_by_name(name, storage)
    outdir = Path(out or Path("runs") / "exports" / name)
    outdir.mkdir(parents=True, exist_ok=True)
    rows = []
    for t in study.get_trials(deepcopy=False):
        rows.append({
            "number": t.number, "state": t.state.name,
            "values": t.values, "params": t.params, "user_attrs": t.user_attrs,
            "intermediate_values": t.intermediate_values,
            "datetime_start": t.datetime_start.isoformat() if t.datetime_start else None,
            "datetime_complete": t.datetime_complete.isoformat() if t.datetime_complete else None,
        })  # fmt: skip
    (outdir / "trials.json").write_text(
        json.dumps(
            {"study": name, "user_attrs": study.user_attrs, "trials": rows}, indent=1, default=str
        )
    )
    flat = []
    for r in rows:
        f = {"number": r["number"], "state": r["state"]}
        for i, v in enumerate(r["values"] or []):
            f[f"value_{i}"] = v
        f.update({f"params.{k}": v for k, v in r["params"].items()})
        f.update({f"attrs.{k}": json.dumps(v) if isinstance(v, list | dict) else v
                  for k, v in r["user_attrs"].items()})  # fmt: skip
        f["datetime_start"], f["datetime_complete"] = r["datetime_start"], r["datetime_complete"]
        flat.append(f)
    fields = sorted({k for f in flat for k in f}, key=lambda k: (not k[0].isalpha(), k))
    order = ["number", "state"] + [k for k in fields if k not in ("number", "state")]
    with open(outdir / "trials.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=order)
        w.writeheader()
        w.writerows(flat)
    return {"csv": str(outdir / "trials.csv"), "json": str(outdir / "trials.json")}


def dashboard(storage: str | None, port: int) -> int:
    """Serve optuna-dashboard on 127.0.0.1 only (it has unauthenticated write routes), in this
    process: the storage URL, and any password in it, never reaches another command line
    (``$SWEEP_STORAGE`` keeps it off this one too)."""
    import signal
    import socket

    import optuna_dashboard

    from sweep.errors import SweepError
    from sweep.storage import default_storage, make_storage, mask_url, normalize_storage

    if not 0 < port < 65536:
        raise SweepError(key="--port", message=f"{port} is not a TCP port; use 1-65535")
    url = normalize_storage(storage) if storage else default_storage("")
    st = make_storage(url, heartbeat=False, create=False)
    with socket.socket() as s:  # a busy port: one line now, not a traceback from the server
        try:
            s.bind(("127.0.0.1", port))
        except OSError as e:
            raise SweepError(key="--port", message=f"127.0.0.1:{port} is not free "
                             f"({e.strerror}); choose another with --port") from None  # fmt: skip
    print(f"sweep: dashboard for {mask_url(url)} at http://127.0.0.1:{port}/ (Ctrl-C stops it; "
          "from another machine use an SSH tunnel)", file=sys.stderr)  # fmt: skip
    sys.stderr.flush()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # kill PID, a scheduler: quiet end
    try:
        optuna_dashboard.run_server(st, host="127.0.0.1", port=port)
    except KeyboardInterrupt:
        pass
    return 0
