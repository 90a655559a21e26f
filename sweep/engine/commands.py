"""``sweep export`` and ``sweep dashboard``: a study's trials as files, optuna-dashboard.

Imports: the standard library, :mod:`sweep.storage` and :mod:`sweep.engine.study`.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from sweep.engine.study import load_study_by_name


def export(name: str, storage: str | None, out: str | None) -> dict[str, str]:
    """trials.csv and trials.json of a study (params, values, state, every user attribute)."""
    import csv

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
    """Run optuna-dashboard on 127.0.0.1 only (it has unauthenticated write routes)."""
    import shutil

    from sweep.storage import default_storage, mask_url, normalize_storage

    url = normalize_storage(storage) if storage else default_storage("")
    exe = shutil.which("optuna-dashboard") or str(
        Path(sys.executable).with_name("optuna-dashboard")
    )
    target = url[len("journal:///") - 1 :] if url.startswith("journal:///") else url
    print(f"sweep: dashboard for {mask_url(url)} at http://127.0.0.1:{port}/ (Ctrl-C stops it; "
          "from another machine use an SSH tunnel)", file=sys.stderr)  # fmt: skip
    sys.stderr.flush()
    # Become the dashboard process, so that signals (Ctrl-C, SIGTERM) reach it directly.
    os.execv(exe, [exe, target, "--host", "127.0.0.1", "--port", str(port)])
    return 0  # pragma: no cover - execv does not return
