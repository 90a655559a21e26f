"""``sweep launch``, ``resume`` and ``stop``: a study file -> a study run on a backend.

A launch (or resume) runs, in order: the search budget (``budget.trials``, the published and
reference arms enqueued first and counted in it: :mod:`sweep.engine.arms`), the confirmation
(:mod:`sweep.engine.confirm`, after the budget, on the same backend; its cost is said up front),
then stores the study's answer (:func:`sweep.answer.answer_of_study`, ``sweep:answer``) and
returns it with the summary. A calibration study (``sweep calibrate`` runs its cells through
:func:`run`) gets none of the three: its cells are its design.

The budget is the study's, claimed in its storage: each trial takes a ticket as it starts or
gives it back (:func:`sweep.record.claim_holds`), so two launchers started at once, launchers
on several hosts and a ``resume`` while a launch runs share ONE budget. A launch that finds the
study running says so on one line and joins it; a launch whose share is done while another
launcher still runs trials leaves the confirmation and the answer to that one (one line).

Imports: the standard library, Optuna (lazily), :mod:`sweep.errors`, :mod:`sweep.record`,
:mod:`sweep.storage`, :mod:`sweep.devices`, :mod:`sweep.study_config`,
:mod:`sweep.calibration.warning`, :mod:`sweep.values`, :mod:`sweep.answer` (lazily) and this
package's ``backend``, ``claims``, ``study``, ``arms`` and ``confirm``.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path
from typing import Any

from sweep import record
from sweep.engine.arms import enqueue_arms
from sweep.engine.backend import Plan, get_backend
from sweep.engine.claims import (
    ConfirmClaim,
    joined,
    open_tickets,
    register_launcher,
    searched,
    searching_elsewhere,
    tickets_held,
    unregister,
)
from sweep.engine.confirm import plan_cost, run_confirmation
from sweep.engine.study import (
    fail_orphans,
    load_study_by_name,
    open_study,
    running_elsewhere,
    running_text,
    settle_unnamed,
    summarize,
)
from sweep.errors import SweepError
from sweep.storage import mask_url
from sweep.values import jsonable


def run(
    path: str,
    *,
    profile: str | None = None,
    storage: str | None = None,
    workers: int | None = None,
    trials: int | None = None,
    device: str = "auto",
    fork: str | None = None,
    resume: bool = False,
    progress: bool = True,
    cache_dir: str | None = "runs/cache",
    quiet: bool = False,
    backend: str | None = None,
    address: str | None = None,
) -> dict[str, Any]:
    """Launch or resume a study from a search-space file (see the module docstring)."""
    import optuna

    if fork is not None:  # before anything is opened or written
        record.check_study_name(fork, "--fork")

    from sweep.study_config import load_study_config, with_backend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = load_study_config(path, storage=storage)
    spec = with_backend(spec, backend, address)  # --backend / --address
    if spec.backend.name == "ray" and spec.backend.address:
        from sweep.engine.ray_backend import probe_address

        probe_address(spec.backend.address)  # before anything is written
    with _joined_cluster(spec):  # (a cluster refusing this client: before anything is written)
        return _run(
            spec, path, profile, device, trials, workers, fork, resume, progress, cache_dir, quiet
        )


def _joined_cluster(spec):
    """The Ray cluster a launch joins (an address, or ``RAY_ADDRESS``), joined for the whole
    launch before the study is opened: a wrong token or a refusing cluster is one line and
    nothing is written. Otherwise nothing (a local Ray starts with the trials)."""
    import contextlib
    import os

    if spec.backend.name != "ray" or not (spec.backend.address or os.environ.get("RAY_ADDRESS")):
        return contextlib.nullcontext()
    from sweep.engine.ray_backend import ray_session

    return ray_session(spec.backend.address)


def _run(spec, path, profile, device, trials, workers, fork, resume, progress, cache_dir, quiet):
    from sweep.devices import pick_profile

    choice = pick_profile(profile or spec.profile, device)
    prof = choice.profile
    if choice.asked == "auto" and spec.backend.name == "ray" and (spec.backend.gpus or 0) > 0:
        prof = "gpu"  # the trials get GPUs on the cluster, whatever the driver has
    if choice.asked == "auto" and not quiet:
        print(f"sweep: profile '{prof}' ({choice.why}); override with --profile", file=sys.stderr)
    plan_budget = spec.budget_for(prof)
    budget = trials if trials is not None else plan_budget.trials
    n_workers = workers if workers is not None else plan_budget.workers
    if budget < 1 or n_workers < 1:
        raise SweepError("--trials and --workers must be positive integers")
    study = open_study(spec, prof, fork, create=True)
    spec = _from_snapshot(study, spec, prof, quiet)
    me = register_launcher(study)
    try:
        return _launch(
            study,
            spec,
            prof,
            budget=budget,
            n_workers=n_workers,
            plan_budget=plan_budget,
            resume=resume,
            trials=trials,
            device=device,
            cache_dir=cache_dir,
            progress=progress,
            quiet=quiet,
            me=me,
        )
    finally:
        unregister(study, me)


def _launch(
    study,
    spec,
    prof: str,
    *,
    budget: int,
    n_workers: int,
    plan_budget,
    resume: bool,
    trials: int | None,
    device: str,
    cache_dir: str | None,
    progress: bool,
    quiet: bool,
    me: str,
) -> dict[str, Any]:
    """The launch on the open ``study`` (``spec``: its snapshot with this launch's fields)."""
    name = study.study_name
    stored = study.user_attrs.get(record.STUDY_BUDGET) or {}
    if resume and trials is None and record.BUDGET_TRIALS in stored:
        budget = int(stored[record.BUDGET_TRIALS])  # the budget the study was launched with
    study.set_user_attr(
        record.STUDY_BUDGET,
        {
            **stored,
            record.BUDGET_TRIALS: budget,
            record.BUDGET_WORKERS: n_workers,
            record.BUDGET_MAX_FAILED: plan_budget.max_failed,
        },
    )
    if not quiet:
        print(f"sweep: study '{name}' in {mask_url(spec.storage)}", file=sys.stderr)
        from sweep.calibration.warning import launch_warning

        if warning := launch_warning(spec, prof, study):  # below a calibrated verdict
            print(f"sweep: warning: {warning}", file=sys.stderr)
    _store_visibility(study, quiet)
    settle_unnamed(study)  # a trial a killed worker never named: wait out its grace first
    orphans = fail_orphans(study)  # trials of workers gone (a killed launcher, an OOM kill)
    if orphans and not quiet:
        shown = ", ".join(f"#{n}" for n in orphans[:8]) + (", ..." if len(orphans) > 8 else "")
        print(
            f"sweep: {len(orphans)} trial{'s' if len(orphans) != 1 else ''} left running by a "
            f"worker that is gone ({shown}): failed, each retried once with the same values",
            file=sys.stderr,
        )
    if resume and not quiet:  # (the trials are read only when it is said)
        if waiting := sum(t.state.name == "WAITING" for t in study.get_trials(deepcopy=False)):
            print(f"sweep: {waiting} enqueued trial(s) waiting to run first", file=sys.stderr)
    study.set_user_attr(record.STUDY_STOP, False)
    if ((others := running_elsewhere(study)) or joined(study, me)) and not quiet:
        left = max(0, budget - tickets_held(study))
        what = running_text(others) if others else "another launcher started it"
        print(
            f"sweep: study '{name}' is already running ({what}): this "
            f"launch joins its budget of {budget} trials, {left} not yet taken",
            file=sys.stderr,
        )
    calibration = any(k in study.user_attrs for k in record.FIXED_CELL_PLANS)  # fixed cells
    before = len(study.get_trials(deepcopy=False))
    conf = None
    if not calibration:  # the published and reference arms, the confirmation's cost
        enqueue_arms(study, spec, prof, max(0, budget - tickets_held(study)), quiet=quiet)
        conf, line = plan_cost(spec, prof, budget)
        if not quiet:
            print(f"sweep: {line}", file=sys.stderr)
    # The budget's tickets are claimed in the storage, one by each trial as it starts
    # (sweep.record.claim_holds): whatever number of launchers, hosts and resumes share the
    # study, no more than `budget` search trials run. `remaining` only sizes this launcher's
    # share: the unclaimed tickets and the WAITING trials (retries, arms) when it looks.
    remaining = open_tickets(study, budget)
    plan = Plan(
        str(spec.path),
        spec.storage,
        name,
        prof,
        device,
        cache_dir,
        min(n_workers, max(remaining, 1)),
        trials_before=before,
        sampler=spec.sampler,
        pruner=spec.pruner,
    )
    run_workers = get_backend(spec.backend.name)  # local worker processes or Ray actors
    t0 = time.perf_counter()
    while remaining and not study.user_attrs.get(record.STUDY_STOP):
        # (one round, unless the tickets went to waiting confirmation cells of a resumed run)
        finished = _finished(study)
        run_workers(
            dataclasses.replace(plan, workers=min(n_workers, remaining)),
            study,
            remaining,
            min(n_workers, remaining),
            spec,
            progress,
            budget,
            plan_budget.max_failed,
        )
        remaining = open_tickets(study, budget)
        if _finished(study) == finished:
            break
    confirm = None
    elsewhere: list[str] = []
    if not study.user_attrs.get(record.STUDY_STOP):
        fail_orphans(study)  # (this launcher's workers are gone: any RUNNING trial is another's)
        elsewhere = running_elsewhere(study)
        if elsewhere and not any(elsewhere):  # only unnamed ones: perhaps a worker of ours
            settle_unnamed(study)  # killed between ask and objective; past the grace, failed
            fail_orphans(study)
            elsewhere = running_elsewhere(study)
        searched(study, me)
        if not elsewhere and searching_elsewhere(study, me):
            elsewhere = ["search"]
    if elsewhere and not calibration:
        # Another launcher still runs trials of the study: it confirms and answers when they
        # end (the last launcher to finish does); two confirmations at once would race.
        if not quiet:
            print(
                f"sweep: study '{name}': this launch's share of the budget is done; another "
                f"launcher {_still(elsewhere)} and confirms and answers when it ends "
                "('sweep status' follows it)",
                file=sys.stderr,
            )
        conf = None
    # One launcher at a time confirms and answers: the holder of the study's claim in the
    # storage (sweep.engine.claims.ConfirmClaim); another that finishes with it leaves both
    # to the holder.
    with ConfirmClaim(spec.storage, name) as claim:
        if not claim.held and not elsewhere and not calibration:
            elsewhere = ["confirmation"]
            if not quiet:
                print(
                    f"sweep: study '{name}': this launch's share of the budget is done; "
                    "another launcher is running its confirmation and answers when it ends "
                    "('sweep status' follows it)",
                    file=sys.stderr,
                )
            conf = None
        if conf is not None and not study.user_attrs.get(record.STUDY_STOP):

            def run_round(n: int) -> None:
                w = min(n_workers, n)
                run_workers(
                    dataclasses.replace(plan, workers=w, phase="confirm"),
                    study,
                    n,
                    w,
                    spec,
                    progress,
                    n,
                    plan_budget.max_failed,
                )

            confirm = run_confirmation(study, spec, prof, conf, run_round)
        summary = summarize(study, spec)
        summary.update(
            study=name,
            storage=mask_url(spec.storage),
            profile=prof,
            seconds=round(time.perf_counter() - t0, 1),
        )
        if not calibration and not elsewhere:
            from sweep.answer import answer_line, answer_of_study

            answer = jsonable(answer_of_study(study), nan_to_none=True)
            study.set_user_attr(record.STUDY_ANSWER, answer)
            summary.update(
                answer=answer,
                answer_line=answer_line(answer),
                confirm=confirm or study.user_attrs.get(record.STUDY_CONFIRM),
            )
    return summary


def _still(elsewhere: list[str]) -> str:
    """What another launcher still does: ``has 3 trials running (...)`` or ``still searches``."""
    if elsewhere == ["search"]:
        return "still searches"
    return f"has {running_text(elsewhere)}"


def _from_snapshot(study, live, profile: str, quiet: bool):
    """What this launch runs: the study's stored snapshot of its file (what the trials, arms and
    confirmation run), with the launch's sampler, pruner, budget, backend and storage
    (:data:`sweep.study_config.LAUNCH_FIELDS`) from the file it was given."""
    from sweep.storage import mask_text
    from sweep.study_config import LAUNCH_FIELDS, snapshot_config

    attrs = study.user_attrs
    deadline = time.monotonic() + 30.0
    while record.STUDY_FILE_TEXT not in attrs and time.monotonic() < deadline:
        time.sleep(0.2)  # another launcher created the study an instant ago: its attributes
        attrs = study.user_attrs  # follow the creation (two writes, not one transaction)
    spec = snapshot_config(
        attrs,
        study.study_name,
        live.storage,
        profile=profile,
        launch={f: getattr(live, f) for f in LAUNCH_FIELDS},
    )
    if spec.text != mask_text(live.text) and not quiet:
        print(
            f"sweep: {live.path} differs from the copy study '{study.study_name}' stored when "
            "it was created: its trials run the stored copy (this launch takes its budget, "
            "sampler, pruner and backend from the file)",
            file=sys.stderr,
        )
    return spec


def _store_visibility(study, quiet: bool) -> None:
    """Whether each searched generator axis is visible at the training size
    (:mod:`sweep.visibility`), measured once per study and stored (``sweep:visibility``) for
    the answer's warnings; said here too, before any trial runs."""
    from sweep.visibility import study_visibility, visibility_warnings

    if record.STUDY_VISIBILITY in study.user_attrs:
        return
    rows = jsonable(study_visibility(study.user_attrs.get(record.STUDY_CONFIG) or {}))
    study.set_user_attr(record.STUDY_VISIBILITY, rows)
    if not quiet:
        for warning in visibility_warnings(rows):
            print(f"sweep: warning: {warning}", file=sys.stderr)


def _finished(study) -> int:
    return sum(
        t.state.name in ("COMPLETE", "PRUNED", "FAIL") for t in study.get_trials(deepcopy=False)
    )


def resume(name: str, *, storage: str | None = None, fork: str | None = None, **kw):
    """Continue a study with its remaining budget, from the config stored in the study."""
    import tempfile

    from sweep.study_config import load_study_config

    study = load_study_by_name(name, storage)
    text = study.user_attrs.get(record.STUDY_FILE_TEXT)
    if text is None:
        raise SweepError(f"study '{name}' was not created by sweep launch; nothing to resume")
    original = study.user_attrs.get(record.STUDY_FILE)
    profile = kw.pop("profile", None) or study.user_attrs.get(record.STUDY_PROFILE)
    url = storage or study.user_attrs.get(record.STUDY_CONFIG, {}).get("storage")
    if original and Path(original).is_file() and Path(original).read_text() != text:
        current = load_study_config(original, storage=url)
        if current.space_hash(profile) != study.user_attrs.get(record.STUDY_HASH) and not fork:
            raise SweepError(
                f"{original} changed its search space since study '{name}' started; "
                f"'sweep resume {name} --fork NEW_NAME' starts a new study from the current "
                "file (the old one is kept)"
            )
        if fork:
            return run(original, storage=url, profile=profile, fork=fork, **kw)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / (Path(original or "study.yaml").name)
        path.write_text(text)
        return run(str(path), storage=url, profile=profile, resume=True, **kw)


def stop(name: str, storage: str | None = None) -> None:
    load_study_by_name(name, storage).set_user_attr(record.STUDY_STOP, True)
