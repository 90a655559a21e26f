"""``sweep launch``, ``resume`` and ``stop``: a study file -> a study run on a backend.

Imports: the standard library, Optuna (lazily), :mod:`sweep.errors`, :mod:`sweep.record`,
:mod:`sweep.storage`, :mod:`sweep.devices`, :mod:`sweep.study_config`,
:mod:`sweep.calibration.warning`
and this package's ``backend`` and ``study``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from sweep import record
from sweep.engine.backend import Plan, get_backend
from sweep.engine.study import fail_orphans, load_study_by_name, open_study, summarize, used_budget
from sweep.errors import SweepError


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

    from sweep.devices import pick_profile
    from sweep.storage import mask_url
    from sweep.study_config import load_study_config, with_backend

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    spec = load_study_config(path, storage=storage)
    spec = with_backend(spec, backend, address)  # --backend / --address
    if spec.backend.name == "ray" and spec.backend.address:
        from sweep.engine.ray_backend import probe_address

        probe_address(spec.backend.address)  # before anything is written
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
    name = study.study_name
    stored = study.user_attrs.get(record.STUDY_BUDGET) or {}
    if resume and trials is None and "trials" in stored:
        budget = int(stored["trials"])  # the budget the study was launched with
    study.set_user_attr(record.STUDY_BUDGET, {**stored, "trials": budget, "workers": n_workers,
                                      "max_failed": plan_budget.max_failed})  # fmt: skip
    if not quiet:
        print(f"sweep: study '{name}' in {mask_url(spec.storage)}", file=sys.stderr)
        from sweep.calibration.warning import launch_warning

        if warning := launch_warning(spec, prof, study):  # below a calibrated verdict
            print(f"sweep: warning: {warning}", file=sys.stderr)
    fail_orphans(study)  # trials of workers that are gone (a killed launcher, an OOM kill)
    study.set_user_attr(record.STUDY_STOP, False)
    remaining = max(0, budget - used_budget(study))
    plan = Plan(str(Path(path).resolve()), spec.storage, name, prof, device, cache_dir,
                min(n_workers, max(remaining, 1)))  # fmt: skip
    t0 = time.perf_counter()
    if remaining:  # local worker processes or Ray actors (sweep.engine.backend)
        run_workers = get_backend(spec.backend.name)
        run_workers(plan, study, remaining, min(n_workers, remaining), spec, progress, budget,
                    plan_budget.max_failed)  # fmt: skip
    summary = summarize(study, spec)
    summary.update(study=name, storage=mask_url(spec.storage), profile=prof,
                   seconds=round(time.perf_counter() - t0, 1))  # fmt: skip
    return summary


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
