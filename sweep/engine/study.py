"""A study in its storage: opening it with its metadata, orphans and retries, counts.

:func:`open_study` creates a study with the resolved config, its hash, the git commit and the
package versions as study attributes (:mod:`sweep.record`), or opens it after checking that its
search space is the file's. :func:`fail_orphans` fails RUNNING trials whose worker is gone and
enqueues one retry of each, with the same parameters. What launchers claim in the storage (the
budget's tickets, the confirmation): :mod:`sweep.engine.claims`.

Imports: the standard library, Optuna (lazily), :mod:`sweep.errors`, :mod:`sweep.record`,
:mod:`sweep.storage`.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import platform
import socket
import subprocess
import warnings
from pathlib import Path
from typing import Any

from sweep import record
from sweep.errors import SweepError

#: seconds after which a RUNNING trial that no worker has named is taken for an orphan
ORPHAN_GRACE_S = 10.0


def git_commit() -> str | None:
    root = Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for pkg in ("sweep-fdsl", "optuna", "torch", "timm", "numpy", "sqlalchemy"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


def open_study(spec, profile: str, fork: str | None, *, create: bool):
    """Open the study of ``spec`` (``fork``: under that name) or, with ``create``, create it
    with its attributes. Launchers started at once on one SQLite file take turns (the file's
    pop lock, :class:`sweep.storage.PopLock`): a new file's tables and the study are created
    once, and the other launcher finds them whole; elsewhere the launcher that loses the race
    to create the study opens the winner's."""
    from sweep.storage import PopLock

    if fork is not None:  # launch checks first; a direct caller too
        record.check_study_name(fork, "--fork")
    if spec.storage.startswith("sqlite:///"):
        with contextlib.suppress(OSError):
            Path(spec.storage[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    with PopLock(spec.storage):
        return _open_study(spec, profile, fork, create=create)


def _open_study(spec, profile: str, fork: str | None, *, create: bool):
    import optuna

    from sweep.storage import make_storage, mask_text

    storage = make_storage(spec.storage)
    name = fork or spec.study
    h = spec.space_hash(profile)
    try:
        study = optuna.load_study(study_name=name, storage=storage)
        existing = True
    except KeyError:
        existing = False
    if not existing and create:
        directions = [d for _, d in spec.objectives]
        try:
            study = optuna.create_study(study_name=name, storage=storage, directions=directions)
        except optuna.exceptions.DuplicatedStudyError:  # another launcher created it just now
            study = optuna.load_study(study_name=name, storage=storage)
            existing = True
    if existing:
        old = study.user_attrs.get(record.STUDY_HASH)
        if old is not None and old != h:
            raise SweepError(
                f"study '{name}' exists with a different search space (hash {old}, file "
                f"{h}); continue it as it was with 'sweep resume {name}', or start a new "
                f"study with --fork NEW_NAME"
            )
        return study
    if not create:
        raise SweepError(f"no study '{name}' in {spec.storage}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names([m for m, _ in spec.objectives])
    study.set_user_attr(record.STUDY_CONFIG, spec.resolved(profile))
    study.set_user_attr(record.STUDY_FILE, str(Path(spec.path).resolve()))
    study.set_user_attr(record.STUDY_FILE_TEXT, mask_text(spec.text))
    study.set_user_attr(record.STUDY_HASH, h)
    study.set_user_attr(record.STUDY_PROFILE, profile)
    study.set_user_attr(record.STUDY_GIT, git_commit())
    study.set_user_attr(record.STUDY_VERSIONS, versions())
    if spec.question:
        study.set_user_attr(record.STUDY_QUESTION, spec.question)
    return study


def fail_orphans(study, *, all_running: bool = False, dead=(), only_unnamed=False) -> list[int]:
    """Mark RUNNING trials whose worker is gone as FAIL and enqueue one retry of each; enqueue
    a retry of each trial stopped by Ctrl-C that has none yet.

    A worker on this host is gone when its pid no longer exists (or ``all_running``: the caller
    knows no worker of this study is alive; or its ``host:pid`` is in ``dead``: the Ray backend
    saw that actor die). A trial that no worker named within ``ORPHAN_GRACE_S`` of its start
    lost its worker before the objective began (``only_unnamed``: only those; the launcher
    checks for them as it runs). Returns the numbers of the trials failed.
    """
    import optuna
    from optuna.trial import TrialState

    if only_unnamed:  # the launcher's periodic check: the RUNNING trials are enough
        running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    else:
        trials = study.get_trials(deepcopy=False)
        running = [t for t in trials if t.state == TrialState.RUNNING]
        retried_ = record.retried_numbers(trials)
        for t in trials:
            interrupted = t.state == TrialState.FAIL and t.user_attrs.get(record.INTERRUPTED)
            if interrupted and t.number not in retried_:
                enqueue_retry(study, t)
    host = socket.gethostname()
    failed = []
    now = datetime.datetime.now()
    for t in running:
        worker = t.user_attrs.get(record.WORKER, "")
        w_host, _, pid = worker.partition(":")
        here = w_host == host and pid.isdigit()
        # A worker names itself on its trial milliseconds after creating it: a trial still
        # unnamed after ORPHAN_GRACE_S lost its worker in between (a kill at that moment).
        unnamed = (
            not worker
            and t.datetime_start is not None
            and ((now - t.datetime_start).total_seconds() > ORPHAN_GRACE_S)
        )
        if only_unnamed:
            gone = unnamed
        else:
            gone = all_running or worker in dead or (here and not alive(int(pid))) or unnamed
        if not gone:
            continue
        study._storage.set_trial_user_attr(t._trial_id, record.ERROR, "worker died mid-trial")
        study.tell(t.number, state=TrialState.FAIL)
        failed.append(t.number)
        if record.RETRY_OF not in t.user_attrs and not record.claim_lost(t):
            enqueue_retry(study, t)  # (a trial that gave its ticket back is not run again)
    if failed:
        optuna.logging.get_logger("sweep").info("failed orphaned trials %s", failed)
    return failed


#: the user attributes a retry keeps: a fixed trial's recipe, seeds and labels, its arm, its
#: configuration and its replicate (its seeds, when no other trial has claimed them since)
RETRY_KEEPS = (record.FIXED, record.ARM, record.CONFIG_KEY, record.REPLICATE)


def enqueue_retry(study, t) -> None:
    keep = {k: t.user_attrs[k] for k in RETRY_KEEPS if k in t.user_attrs}
    # An enqueued trial whose worker died before it drew its values has them only as Optuna's
    # fixed parameters.
    params = t.params or t.system_attrs.get(record.OPTUNA_FIXED_PARAMS) or {}
    study.enqueue_trial(
        params, user_attrs={**keep, record.RETRY_OF: t.number}, skip_if_exists=False
    )


def settle_unnamed(study) -> None:
    """Wait until every RUNNING trial that no worker has named is older than
    ``ORPHAN_GRACE_S`` (at most that long), so that the orphan check that follows fails and
    retries it. Such a trial lost its worker between Optuna's ask and the objective (a kill at
    that moment); a launcher started right after the kill used to finish its whole budget
    before the grace ran out and leave it RUNNING."""
    import time

    from optuna.trial import TrialState

    now = datetime.datetime.now()
    ages = [
        (now - t.datetime_start).total_seconds()
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if not t.user_attrs.get(record.WORKER) and t.datetime_start is not None
    ]
    young = [a for a in ages if a <= ORPHAN_GRACE_S]
    if young:
        time.sleep(ORPHAN_GRACE_S - min(young) + 0.5)


def worker_gone(worker: str | None) -> bool:
    """Whether a trial's worker (``host:pid``) is known to be gone: a process of this host that
    no longer exists. A worker on another host is not known to be gone (its heartbeat tells)."""
    host, _, pid = (worker or "").partition(":")
    return host == socket.gethostname() and pid.isdigit() and not alive(int(pid))


def alive(pid: int) -> bool:
    """Whether process ``pid`` of this host still runs (a zombie, dead but not yet reaped by an
    init that does not reap, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # Linux: the state after the command name in /proc/PID/stat
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state not in ("Z", "X")


def counts(study) -> dict[str, int]:
    """Trials of ``study`` per state (:func:`sweep.record.counts`)."""
    return record.counts(study.get_trials(deepcopy=False))


def used_budget(study) -> int:
    """Trials that consumed a ticket of the search budget (the confirmation's do not:
    :func:`sweep.record.used_search_budget`)."""
    return record.used_search_budget(study.get_trials(deepcopy=False))


def running_elsewhere(study) -> list[str]:
    """The worker (``host:pid``; ``""`` before it named itself) of each RUNNING trial: once
    this launcher's workers are gone and :func:`fail_orphans` has run, another launcher's (or
    another host's) trials on the study."""
    from optuna.trial import TrialState

    return [
        str(t.user_attrs.get(record.WORKER) or "")
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if not record.claim_lost(t)
    ]


def running_text(workers: list[str]) -> str:
    """``3 trials running (workers host:12, host:13)``: :func:`running_elsewhere` in words."""
    named = sorted({w for w in workers if w})
    shown = ", ".join(named[:3]) + (", ..." if len(named) > 3 else "")
    n = len(workers)
    return f"{n} trial{'s' if n != 1 else ''} running" + (f" (workers {shown})" if named else "")


def retried(study) -> int:
    """How many trials of ``study`` are retries of a failed one."""
    return record.n_retries(study.get_trials(deepcopy=False))


def best_summary(study, spec) -> str:
    try:
        if len(spec.objectives) == 1:
            b = study.best_trial
            return f"#{b.number} {spec.objectives[0][0]}={b.value:.4g}"
        return f"{len(study.best_trials)} on the Pareto front"
    except ValueError:
        return ""


def summarize(study, spec) -> dict[str, Any]:
    from optuna.trial import TrialState

    out: dict[str, Any] = {"counts": counts(study)}
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not done:
        failed = [r for r in record.records(study) if r.state == "FAIL" and r.error]
        if failed:  # what the launch says when every trial failed
            first = min(failed, key=lambda r: r.number)
            kind = f"{first.error_type}: " if first.error_type else ""
            out["first_failure"] = f"trial {first.number}: {kind}{first.error}"
        return out
    # (a confirmation cell is one seed of an arm the answer compares on all of them)
    done = [t for t in done if record.arm_of(t.user_attrs) != record.ARM_CONFIRM] or done
    if len(spec.objectives) == 1:
        rev = spec.objectives[0][1] == "maximize"
        top = sorted(done, key=lambda t: t.value, reverse=rev)[:5]
    else:
        top = study.best_trials[:10]
    out["top"] = [
        {
            "number": t.number,
            "values": t.values,
            "arm": record.arm_of(t.user_attrs),
            "seeds": len(t.user_attrs.get(record.SEEDS) or [0]),
            "params": record.resolved_params(t.user_attrs),
        }
        for t in top
    ]
    return out


def load_study_by_name(name: str, storage: str | None):
    import optuna

    from sweep.storage import default_storage, make_storage, mask_url

    url = storage or default_storage(name)
    st = make_storage(url, heartbeat=False, create=False)  # reading a study creates nothing
    try:
        return optuna.load_study(study_name=name, storage=st)
    except KeyError:
        names = [s.study_name for s in optuna.get_all_study_summaries(st)]
        from sweep.errors import did_you_mean

        raise SweepError(
            f"no study '{name}' in {mask_url(url)}{did_you_mean(name, names)}"
            + (f"; studies: {', '.join(names)}" if names else "")
        ) from None
