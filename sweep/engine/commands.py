"""``sweep status``, ``export`` and ``dashboard``: a study's state and answer (as data, and as the
text ``sweep status`` and ``sweep launch`` print), its trials as files, optuna-dashboard.

Imports: the standard library, Optuna (lazily), :mod:`sweep.record`, :mod:`sweep.storage`,
:mod:`sweep.values`, :mod:`sweep.answer` and :mod:`sweep.paper` (lazily) and
:mod:`sweep.engine.study`.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sweep import record
from sweep.engine.study import counts, load_study_by_name, worker_gone
from sweep.values import is_real, jsonable


def status(name: str, storage: str | None) -> dict[str, Any]:
    """A study's state as JSON-ready data: counts, the search budget (``trials``: the study's,
    ``used``: by finished search trials, ``confirm``: confirmation trials, which are extra),
    trials per arm, the objectives' names (``metrics``), its question and answer (the stored
    one, else computed: ``answer_stored``), the confirmation plan, best and running trials, the
    storage (masked), and ``paper``: :func:`sweep.paper.paper_check` (None: no published table
    applies)."""
    from sweep.answer import answer_line, answer_of_study, provisional
    from sweep.paper import paper_check
    from sweep.storage import default_storage, mask_url

    study = load_study_by_name(name, storage)
    trials = study.get_trials(deepcopy=False)
    answer = study.user_attrs.get(record.STUDY_ANSWER)
    stored = answer is not None
    if answer is None or provisional(study.user_attrs.get(record.STUDY_CONFIRM)):
        # an older study, or one still running: computed, not stored (and provisional while
        # its confirmation runs)
        answer = answer_of_study(study)
        stored = False
    best = []
    try:
        best = [
            {
                "number": t.number,
                "values": t.values,
                "arm": record.arm_of(t.user_attrs),
                "params": record.resolved_params(t.user_attrs),
            }
            for t in study.best_trials[:10]
        ]
    except (ValueError, RuntimeError):
        pass
    now = datetime.datetime.now()
    running = [
        {
            "number": t.number,
            "worker": t.user_attrs.get(record.WORKER),
            "age_s": (now - t.datetime_start).total_seconds() if t.datetime_start else None,
            "stale": worker_gone(t.user_attrs.get(record.WORKER)),
            "progress": t.user_attrs.get(record.PROGRESS),
        }
        for t in trials
        if t.state.name == "RUNNING"
    ]
    arms = Counter(record.arm_of(t.user_attrs) for t in trials if not record.claim_lost(t))
    planned = study.user_attrs.get(record.STUDY_BUDGET) or {}
    budget = {
        "trials": planned.get(record.BUDGET_TRIALS),
        "used": record.used_search_budget(trials),
        "confirm": arms.get(record.ARM_CONFIRM, 0),
    }
    return jsonable(
        {
            "study": study.study_name,
            "storage": mask_url(storage or default_storage("")),
            "counts": counts(study),
            "budget": budget,
            "arms": dict(arms),
            "metrics": study.metric_names,
            "question": study.user_attrs.get(record.STUDY_QUESTION),
            "answer": answer,
            "answer_stored": stored,
            "answer_line": answer_line(answer),
            "confirm": study.user_attrs.get(record.STUDY_CONFIRM),
            "best": best,
            "running": running,
            "paper": paper_check(study),  # published results as the external check, or None
        },
        nan_to_none=True,
    )


def status_text(name: str | None, storage: str | None, *, as_json: bool = False) -> str:
    """What ``sweep status [STUDY] [--json]`` prints: one study's :func:`status` as text
    (:func:`status_lines`) or JSON; without a name, the studies of the storage."""
    import optuna

    from sweep.storage import default_storage, make_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if name is None:
        url = storage or default_storage("")
        summaries = optuna.get_all_study_summaries(
            make_storage(url, heartbeat=False, create=False)
        )
        if as_json:
            return json.dumps([{"study": s.study_name, "trials": s.n_trials} for s in summaries])
        return "\n".join(f"{s.study_name}: {s.n_trials} trials" for s in summaries)
    st = status(name, storage)
    return json.dumps(st, indent=1) if as_json else "\n".join(status_lines(st))


STATE_WORDS = {
    "COMPLETE": "complete",
    "PRUNED": "pruned",
    "FAIL": "failed",
    "RUNNING": "running",
    "WAITING": "waiting",
}
"""How a trial state reads in every command's text (``failed``, never ``fail``)."""


def counts_text(counts: dict[str, int]) -> str:
    """``complete 4, pruned 0, failed 1, running 2, waiting 0``."""
    return ", ".join(f"{STATE_WORDS.get(k, k.lower())} {v}" for k, v in counts.items())


def values_text(values: Sequence[float] | None, names: Sequence[str] | None = None) -> str:
    """Objective values to 4 significant digits, named when the study names them."""
    if not values:
        return "no value"
    if names and len(names) == len(values):
        return ", ".join(f"{n}={v:.4g}" for n, v in zip(names, values, strict=True))
    return ", ".join(f"{v:.4g}" for v in values)


def duration_text(seconds: float | None) -> str:
    """``45 s``, ``12 min``, ``3.5 h``: a running trial's age."""
    if seconds is None or seconds != seconds:
        return "an unknown time"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def budget_text(st: dict[str, Any]) -> str:
    """The search budget used, what is left and the confirmation trials beyond it."""
    b, name = st.get("budget") or {}, st["study"]
    used, total, conf = b.get("used", 0), b.get("trials"), b.get("confirm", 0)
    extra = f"; {conf} confirmation trials beyond it" if conf else ""
    if total is None:
        return (
            f"budget: {used} search trials finished (no budget stored: the study was not "
            f"made by 'sweep launch'){extra}"
        )
    if used >= total:
        return f"budget: all {total} search trials used{extra}"
    left = total - used
    todo = "" if st["counts"].get("RUNNING") else f"; 'sweep resume {name}' runs the rest"
    return f"budget: {used} of {total} search trials used, {left} left{todo}{extra}"


def status_lines(st: dict[str, Any]) -> list[str]:
    """``sweep status STUDY`` as text: counts, budget, best and running trials, the answer."""
    lines = [f"study '{st['study']}': {counts_text(st['counts'])}", budget_text(st)]
    best = (st.get("answer") or {}).get("best") or {}
    if best.get("seeds", 0) > 1:  # the answer's best, on its common seeds, first
        lines.append(
            f"best: {best.get('label')} (trial {best.get('trial')}), mean "
            f"{best['mean']:.4g} over {best['seeds']} paired seeds (the answer's)"
        )
    for b in st["best"]:
        arm = b.get("arm") or record.ARM_SEARCH
        values = values_text(b["values"], st.get("metrics"))
        lines.append(
            f"top single trial: {b['number']} ({arm}): {values} {json.dumps(b['params'])}"
        )
    for r in st["running"]:
        if r.get("stale"):
            lines.append(
                f"stale: trial {r['number']} is RUNNING but its worker {r['worker']} is gone "
                f"(a killed launcher); 'sweep resume {st['study']}' fails and retries it"
            )
        else:
            doing = record.progress_text(r.get("progress"))
            lines.append(
                f"running: trial {r['number']} for {duration_text(r['age_s'])} on "
                f"{r['worker']}" + (f" ({doing})" if doing else "")
            )
    lines.append(f"storage: {st['storage']}")
    if (noise := noise_text(st.get("answer") or {})) is not None:
        lines.append(noise)
    if st.get("paper"):
        from sweep.paper import paper_line

        lines.append(paper_line(st["paper"]))
    lines.append(f"answer: {st['answer_line']}")
    return lines


def noise_text(answer: dict[str, Any]) -> str | None:
    """The answer's paired noise in one line: the paired SD next to a single arm's SD and the
    arms' correlation, the paired MDD and the smallest effect; None before any pairing."""
    sd = answer.get("sd_paired")
    if not is_real(sd):
        return None
    from sweep.paired import decimals

    fmt = decimals(sd)
    sigma, corr, mdd = (answer.get(k) for k in ("sigma_seed", "correlation", "mdd"))
    seeds = (answer.get("best_vs_published") or {}).get("n")
    parts = [f"paired SD {sd:.{fmt}f} per seed"]
    if is_real(sigma):
        single = f"single arm {sigma:.{fmt}f}"
        parts[0] += f" ({single}, correlation {corr:.2f})" if is_real(corr) else f" ({single})"
    if is_real(mdd) and seeds:
        parts.append(f"paired MDD {mdd:.{fmt}f} on {seeds} seeds")
    if is_real(delta := answer.get("smallest_effect")):
        parts.append(f"smallest effect {delta:g}")
    return "noise: " + "; ".join(parts)


EXPORT_FILES = ("trials.csv", "trials.json")


def export_dir(name: str, out: str | None, force: bool = False) -> Path:
    """The directory ``sweep export`` writes to, checked before anything is written: not a
    file, and without an earlier export unless ``force`` (one-line SweepErrors)."""
    from sweep.errors import SweepError

    if out is None:
        record.check_study_name(name, "study")  # the name becomes a directory: no '../'
    outdir = Path(out or Path("runs") / "exports" / name)
    key = "-o" if out is not None else None
    for parent in (outdir, *outdir.parents):
        if parent.exists() and not parent.is_dir():
            raise SweepError(
                f"{parent} is a file, not a directory; -o names the directory "
                f"for {' and '.join(EXPORT_FILES)}",
                key=key,
            )
    taken = [f for f in EXPORT_FILES if (outdir / f).exists()]
    if taken and not force:
        raise SweepError(
            f"{outdir} already holds {' and '.join(taken)}; add --force to "
            "overwrite them, or choose another directory with -o",
            key=key,
        )
    for f in taken:
        if (outdir / f).is_dir():
            raise SweepError(
                f"{outdir / f} is a directory; remove it or choose another directory with -o",
                key=key,
            )
    return outdir


def export(
    name: str, storage: str | None, out: str | None, *, force: bool = False
) -> dict[str, str]:
    """trials.csv and trials.json of a study (params, values, state, every user attribute),
    in ``out`` (default ``runs/exports/NAME``); an earlier export there is refused unless
    ``force``. Each file is written whole or not at all (a temporary file, then renamed)."""
    import csv

    if out is None:
        record.check_study_name(name, "study")  # before the storage is opened
    study = load_study_by_name(name, storage)
    outdir = export_dir(name, out, force)  # before anything is written
    outdir.mkdir(parents=True, exist_ok=True)
    rows = []
    for t in study.get_trials(deepcopy=False):
        rows.append(
            {
                "number": t.number,
                "state": t.state.name,
                "values": t.values,
                "params": t.params,
                "user_attrs": t.user_attrs,
                "intermediate_values": t.intermediate_values,
                "datetime_start": t.datetime_start.isoformat() if t.datetime_start else None,
                "datetime_complete": t.datetime_complete.isoformat()
                if t.datetime_complete
                else None,
            }
        )
    text = json.dumps(
        {"study": name, "user_attrs": study.user_attrs, "trials": rows}, indent=1, default=str
    )
    flat = []
    for r in rows:
        f = {"number": r["number"], "state": r["state"]}
        for i, v in enumerate(r["values"] or []):
            f[f"value_{i}"] = v
        f.update({f"params.{k}": v for k, v in r["params"].items()})
        f.update(
            {
                f"attrs.{k}": json.dumps(v) if isinstance(v, list | dict) else v
                for k, v in r["user_attrs"].items()
            }
        )
        f["datetime_start"], f["datetime_complete"] = r["datetime_start"], r["datetime_complete"]
        flat.append(f)
    fields = sorted({k for f in flat for k in f}, key=lambda k: (not k[0].isalpha(), k))
    order = ["number", "state"] + [k for k in fields if k not in ("number", "state")]
    with _replacing(outdir / "trials.json") as tmp:
        tmp.write_text(text)
    with _replacing(outdir / "trials.csv") as tmp, open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=order)
        w.writeheader()
        w.writerows(flat)
    return {"csv": str(outdir / "trials.csv"), "json": str(outdir / "trials.json")}


@contextlib.contextmanager
def _replacing(path: Path):
    """A temporary file next to ``path`` that becomes ``path`` when the block ends without an
    error, and is removed otherwise: a full disk leaves the earlier file, not half of one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


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
            raise SweepError(
                key="--port",
                message=f"127.0.0.1:{port} is not free ({e.strerror}); choose another with --port",
            ) from None
    print(
        f"sweep: dashboard for {mask_url(url)} at http://127.0.0.1:{port}/ (Ctrl-C stops it; "
        "from another machine use an SSH tunnel)",
        file=sys.stderr,
    )
    sys.stderr.flush()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # kill PID, a scheduler: quiet end
    try:
        optuna_dashboard.run_server(st, host="127.0.0.1", port=port)
    except KeyboardInterrupt:
        pass
    return 0
