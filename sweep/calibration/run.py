"""Running a calibration: the study, its enqueued cells, the engine, the analysis stored.

Imports: the standard library, Optuna (lazily), :mod:`sweep.record`, :mod:`sweep.storage`,
:mod:`sweep.devices`, :mod:`sweep.study_config`, the engine and this package's ``plan`` and
``analysis``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from sweep import record
from sweep.calibration.analysis import analyze
from sweep.calibration.plan import Calibration, load_calibration
from sweep.errors import SweepError


# ----------------------------------------------------------------------------- running
def calibrate(
    path: str,
    *,
    profile: str | None = None,
    storage: str | None = None,
    workers: int | None = None,
    device: str = "auto",
    analyze_only: bool = False,
    progress: bool = True,
    cache_dir: str | None = "runs/cache",
) -> dict[str, Any]:
    """Run (or resume) the calibration of a file and analyse it; returns the stored summary."""
    import optuna

    from sweep.devices import pick_profile
    from sweep.engine.launch import run
    from sweep.engine.study import counts, used_budget
    from sweep.storage import mask_url
    from sweep.study_config import load_study_config

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = load_study_config(path, storage=storage)
    cals = load_calibration(spec)  # every profile: a bad gpu section fails on a laptop too
    if workers is not None and workers < 1:
        raise SweepError("--workers must be a positive integer")
    choice = pick_profile(profile or spec.profile, device)
    choice.announce()
    prof = choice.profile
    cal = cals[prof]
    space_hash = spec.space_hash(prof)
    plan_hash = cal.plan_hash(space_hash)
    t0 = time.perf_counter()
    if analyze_only:
        study = _load_existing(spec, cal)
    else:
        study = _prepare(spec, cal, prof, space_hash, plan_hash)
        budget = used_budget(study) + counts(study)["WAITING"]
        print(
            f"sweep: calibration '{cal.study}': {len(cal.configs)} configurations x "
            f"{len(cal.levels)} levels x {len(cal.seeds)} seeds = {len(cal.cells())} trials",
            file=sys.stderr,
        )
        run(
            path,
            profile=prof,
            storage=storage,
            workers=workers,
            trials=budget,
            device=device,
            fork=cal.study,
            progress=progress,
            cache_dir=cache_dir,
        )
    old = study.user_attrs.get(record.STUDY_CALIBRATION_PLAN, {}).get("hash")
    if old != plan_hash:
        raise SweepError(
            f"calibration study '{cal.study}' in {mask_url(spec.storage)} was "
            "made from another calibration (search space, configurations, levels "
            "or seeds); name a new one with calibration.study"
        )
    summary = analyze(study, spec, cal)
    study.set_user_attr(record.STUDY_CALIBRATION, summary)
    return {**summary, "run_seconds": round(time.perf_counter() - t0, 1)}


def _load_existing(spec, cal: Calibration):
    import optuna

    from sweep.storage import make_storage, mask_url

    url = spec.storage
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///") :]).is_file():
        raise SweepError(
            f"no calibration study '{cal.study}': {mask_url(url)} does not exist; "
            "run sweep calibrate without --analyze-only first"
        )
    try:
        return optuna.load_study(study_name=cal.study, storage=make_storage(url, heartbeat=False))
    except KeyError:
        raise SweepError(
            f"no calibration study '{cal.study}' in {mask_url(url)}; run sweep "
            "calibrate without --analyze-only first"
        ) from None


def _prepare(spec, cal: Calibration, prof: str, space_hash: str, plan_hash: str):
    """Create or load the calibration study and enqueue every cell that has no completed,
    waiting or running trial (a failed cell is enqueued again, as a retry of its failure)."""
    import optuna
    from optuna.trial import TrialState

    from sweep.engine.study import fail_orphans, open_study
    from sweep.storage import make_storage, mask_url

    storage = make_storage(spec.storage)
    try:
        old = optuna.load_study(study_name=cal.study, storage=storage)
        stored = old.user_attrs.get(record.STUDY_CALIBRATION_PLAN, {})
        if stored.get("hash") != plan_hash:
            what = "another calibration (search space, configurations, levels or seeds)"
            if not stored:
                what = "sweep launch, not sweep calibrate"
            raise SweepError(
                f"study '{cal.study}' in {mask_url(spec.storage)} was made by "
                f"{what}; name a new one with calibration.study, or delete it "
                "(optuna delete-study)"
            )
    except KeyError:
        pass
    study = open_study(spec, prof, cal.study, create=True)
    study.set_user_attr(
        record.STUDY_CALIBRATION_PLAN,
        {
            "hash": plan_hash,
            "version": 1,
            "base_study": spec.study,
            "question": spec.question,
            "generator": spec.generator,
            "profile": prof,
            "design": cal.design,
            "seeds": list(cal.seeds),
            "configs": [
                {"index": i, "params": c, "values": v}
                for i, (c, v) in enumerate(zip(cal.configs, cal.values, strict=True))
            ],
            "levels": [
                {"name": lv.name, "recipe": dict(lv.recipe), "ladder": cal.ladder(lv)}
                for lv in cal.levels
            ],
            "ladder_fields": cal.ladder_fields,
        },
    )
    fail_orphans(study)  # trials of a killed earlier run: failed, retried once
    by_cell: dict[tuple, list] = {}
    for t in study.get_trials(deepcopy=False):
        labels = record.fixed_labels(t.user_attrs)
        key = (
            labels.get(record.LABEL_CONFIG),
            labels.get(record.LABEL_LEVEL),
            labels.get(record.LABEL_SEED),
        )
        by_cell.setdefault(key, []).append(t)
    retried = record.retried_numbers(study.get_trials(deepcopy=False))
    live = (TrialState.COMPLETE, TrialState.WAITING, TrialState.RUNNING)
    for i, lv, seed in cal.cells():
        trials = by_cell.get((i, lv.name, seed), [])
        if any(t.state in live for t in trials):
            continue
        labels = {record.LABEL_CONFIG: i, record.LABEL_LEVEL: lv.name, record.LABEL_SEED: seed}
        attrs: dict[str, Any] = {
            record.FIXED: record.fixed_value([seed], labels, recipe=lv.recipe),
            **labels,
        }
        failed = [t.number for t in trials if t.number not in retried]
        if failed:
            attrs[record.RETRY_OF] = failed[-1]
        study.enqueue_trial(dict(cal.configs[i]), user_attrs=attrs, skip_if_exists=False)
    return study
