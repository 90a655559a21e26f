"""``sweep noise FILE``: the noise budget of a study's proxy, measured and stored.

The published configuration and one contrast (a named entry of the file's ``references:``, the
first by default) run on a crossed design: ``D`` data seeds x ``T`` training seeds, both arms in
every cell (the same draws), ``2 D T`` fixed trials of a study ``<study>.noise`` in the same
storage (``record.FIXED`` with the cell's ``data_seed`` and training seed, labelled
``record.LABEL_NOISE_ARM``). The seeds are fresh (:func:`sweep.noise.fresh_seeds`: from the
space hash, apart from every seed the study ran). Its plan (``kind: noise``, the arms, the
seeds, a hash of the design) is the study's ``record.STUDY_NOISE_PLAN``, so ``sweep
launch`` runs only its cells (no arms, no confirmation, no answer), as for a calibration.

A rerun continues it (the cells without a complete, waiting or running trial are enqueued; a
failed one as a retry of its failure); a rerun with another design (seeds, contrast, profile,
search space or references) is refused on one line. ``--analyze-only`` runs nothing. The
budget (:func:`sweep.noise.noise_budget`: each arm's and the difference's variance components,
the paired summary, the trial time without the scratch baseline, and the cost of a decision at
the study's ``smallest_effect``) is stored as ``record.STUDY_NOISE`` on the noise study and on
the base study when the storage has it (whose stored answer is then computed again: its next
steps follow the budget). Besides :func:`~sweep.noise.noise_budget`'s ``labels``,
``components``, ``paired`` and ``cost``, the summary holds ``study``, ``base_study``,
``question``, ``metric`` (the first objective), ``profile``, ``smallest_effect``, ``design``
(``data_seeds``, ``train_seeds``, ``contrast``, ``trials``, each arm's ``values``), ``trial_s``,
``cells`` (``[data seed, training seed, contrast's value, published value]``) and
``analyzed_at``.

Imports: the standard library, :mod:`sweep.cliargs` and :mod:`sweep.errors`; Optuna,
:mod:`sweep.record`, :mod:`sweep.noise`, the engine, :mod:`sweep.storage`, :mod:`sweep.devices`,
:mod:`sweep.study_config`, :mod:`sweep.values` and :mod:`sweep.answer` lazily, inside the
command (``--help`` stays fast).
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import sys
import time
from typing import Any

from sweep.cliargs import count_arg
from sweep.errors import SweepError
from sweep.limits import MAX_TRIALS, MAX_WORKERS

#: the default numbers of data seeds and training seeds
DEFAULT_SEEDS = 4
#: the most data seeds (or training seeds) of one design
MAX_SEEDS = 1_000
#: the noise study of study ``x`` is ``x`` + SUFFIX
SUFFIX = ".noise"
#: the label of the published arm
PUBLISHED = "published"
#: the plan's version
VERSION = 1


# ----------------------------------------------------------------------------- the command
def seeds_arg(flag: str):
    """An argparse ``type``: 2 to :data:`MAX_SEEDS` seeds (a variance component needs two)."""
    return count_arg(flag, MAX_SEEDS, "seeds", least=2, why="per design")


def add_noise(sub) -> None:
    """The ``noise`` subcommand."""
    p = sub.add_parser(
        "noise",
        help="measure the noise budget of a study's proxy (seeds a decision needs)",
        description="Run the published configuration and one reference of a search-space "
        "file on a crossed design of fresh data seeds x training seeds (both arms on every "
        "cell), as fixed trials of the study '<study>.noise' in the same storage (running it "
        "again resumes), then print and store (sweep:noise, on that study and on the study "
        "itself) the variance components of each arm and of their paired difference, the "
        "arms' correlation, the SD of the paired difference with its 95% interval, the trial "
        "time and the paired seeds a decision at the study's smallest_effect needs.",
    )
    p.add_argument("file", help="a search-space YAML file with a references: entry")
    p.add_argument(
        "--data-seeds",
        type=seeds_arg("--data-seeds"),
        default=DEFAULT_SEEDS,
        metavar="D",
        help=f"data seeds of the design, 2 to {MAX_SEEDS:,} (default: {DEFAULT_SEEDS})",
    )
    p.add_argument(
        "--train-seeds",
        type=seeds_arg("--train-seeds"),
        default=DEFAULT_SEEDS,
        metavar="T",
        help=f"training seeds of the design, 2 to {MAX_SEEDS:,} (default: {DEFAULT_SEEDS})",
    )
    p.add_argument(
        "--contrast",
        default=None,
        metavar="NAME",
        help="the reference (a name of the file's references:) run against the "
        "published configuration (default: the first one)",
    )
    p.add_argument(
        "--profile",
        choices=("auto", "cpu", "gpu"),
        default=None,
        help="recipe preset: cpu, gpu (needs a CUDA device), or auto (gpu when "
        "CUDA is available); default: the file's proxy.profile, else auto",
    )
    p.add_argument(
        "--storage",
        default=None,
        metavar="URL",
        help="storage URL or file (default: the file's storage:, else "
        "$SWEEP_STORAGE, else runs/studies.db)",
    )
    p.add_argument(
        "--workers",
        type=count_arg("--workers", MAX_WORKERS, "workers"),
        default=None,
        metavar="N",
        help="parallel worker processes (or Ray actors), 1 to 1,024 (default: the "
        "file's budget.workers)",
    )
    p.add_argument(
        "--device",
        default="auto",
        help="auto (one worker per GPU, else CPU workers), cpu, cuda or cuda:N (default: auto)",
    )
    p.add_argument(
        "--analyze-only",
        action="store_true",
        help="run nothing: analyse the completed trials of the noise study",
    )
    p.add_argument("--json", action="store_true", help="print the stored budget as JSON")
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress: neither the live bar (on a terminal) nor the plain line "
        "per finished trial (when stdout is a file or a pipe)",
    )
    p.set_defaults(func=cmd_noise)


def cmd_noise(args: argparse.Namespace) -> int:
    summary = measure(
        args.file,
        data_seeds=args.data_seeds,
        train_seeds=args.train_seeds,
        contrast=args.contrast,
        profile=args.profile,
        storage=args.storage,
        workers=args.workers,
        device=args.device,
        analyze_only=args.analyze_only,
        progress=not args.no_progress,
    )
    if args.json:
        print(json.dumps(summary, allow_nan=False))
    else:
        from sweep.noise import summary_lines

        print("\n".join(summary_lines(summary)))
    return 0


# ----------------------------------------------------------------------------- running
def measure(
    path: str,
    *,
    data_seeds: int = DEFAULT_SEEDS,
    train_seeds: int = DEFAULT_SEEDS,
    contrast: str | None = None,
    profile: str | None = None,
    storage: str | None = None,
    workers: int | None = None,
    device: str = "auto",
    analyze_only: bool = False,
    progress: bool = True,
    cache_dir: str | None = "runs/cache",
) -> dict[str, Any]:
    """Run (or continue) the noise budget's design of a file and store its summary (see the
    module doc); returns the summary, with ``stored_on`` and ``run_seconds``."""
    import optuna

    from sweep import record
    from sweep.devices import check_gpu_profile, pick_profile
    from sweep.study_config import load_study_config

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for flag, n in (("--data-seeds", data_seeds), ("--train-seeds", train_seeds)):
        if not 2 <= n <= MAX_SEEDS:
            raise SweepError(f"{flag}: expected 2 to {MAX_SEEDS:,} seeds, got {n}")
    if 2 * data_seeds * train_seeds > MAX_TRIALS:
        n = 2 * data_seeds * train_seeds
        raise SweepError(
            f"--data-seeds {data_seeds} x --train-seeds {train_seeds}: {n:,} "
            f"trials, at most {MAX_TRIALS:,}"
        )
    if workers is not None and workers < 1:
        raise SweepError("--workers must be a positive integer")
    spec = load_study_config(path, storage=storage)
    ref = pick_contrast(spec, contrast, path)
    if not analyze_only:
        ray = spec.backend.name == "ray"
        remote = ray and bool(spec.backend.address or os.environ.get("RAY_ADDRESS"))
        label = "--profile" if profile else f"{path}: proxy.profile"
        check_gpu_profile(profile or spec.profile, device, remote=remote, label=label)
    choice = pick_profile(profile or spec.profile, device)
    choice.announce()
    prof = choice.profile
    published, why = spec.published(prof)
    if published is None:
        raise SweepError(
            f"the published configuration cannot be run ({why}); sweep noise "
            "measures the noise of it against a reference"
        )
    if dict(ref.raw) == dict(published.raw):
        raise SweepError(
            f"--contrast {ref.name}: reference '{ref.name}' is the published "
            "configuration; name another (the difference would be 0)"
        )
    name = record.check_study_name(spec.study + SUFFIX, "the noise study's name")
    label = ref.name if ref.name not in (PUBLISHED, "difference") else f"reference:{ref.name}"
    design = {
        "kind": "noise",
        "version": VERSION,
        "base_study": spec.study,
        "profile": prof,
        "space_hash": spec.space_hash(prof),
        "contrast": ref.name,
        "labels": [label, PUBLISHED],
        "n_data_seeds": data_seeds,
        "n_train_seeds": train_seeds,
        "arms": {
            label: {"values": dict(ref.values), "raw": dict(ref.raw)},
            PUBLISHED: {"values": dict(published.values), "raw": dict(published.raw)},
        },
    }
    design = json.loads(json.dumps(design, sort_keys=True))  # JSON-ready, as stored
    design["hash"] = hashlib.sha256(json.dumps(design, sort_keys=True).encode()).hexdigest()[:16]
    t0 = time.perf_counter()
    if analyze_only:
        study = _load_existing(spec, name)
        plan = _check_plan(study, design, spec.storage)
    else:
        from sweep.engine.launch import run
        from sweep.engine.study import counts, used_budget

        study, plan = _prepare(spec, prof, name, design)
        budget = used_budget(study) + counts(study)["WAITING"]
        print(
            f"sweep: noise budget '{name}': '{label}' and '{PUBLISHED}' x {data_seeds} data "
            f"seeds x {train_seeds} training seeds = {2 * data_seeds * train_seeds} trials",
            file=sys.stderr,
        )
        run(
            path,
            profile=prof,
            storage=storage,
            workers=workers,
            trials=budget,
            device=device,
            fork=name,
            progress=progress,
            cache_dir=cache_dir,
        )
    summary = analyze(study, spec, plan)
    stored_on = store(study, spec, summary)
    return {**summary, "stored_on": stored_on, "run_seconds": round(time.perf_counter() - t0, 1)}


def pick_contrast(spec, contrast: str | None, path: str):
    """The reference named ``contrast`` (None: the file's first); one line when there is none."""
    refs = {r.name: r for r in spec.references}
    if not refs:
        names = [p.name for p in spec.search] or ["PARAM"]
        example = ", ".join(f"{n}: VALUE" for n in names)
        what = f"--contrast {contrast}: " if contrast is not None else ""
        raise SweepError(
            f"{what}{path} has no references: to contrast with the published "
            f"configuration; add one, e.g. 'references: {{contrast: {{{example}}}}}'"
            " (a value for every searched parameter)"
        )
    if contrast is None:
        return spec.references[0]
    if contrast not in refs:
        from sweep.errors import did_you_mean

        raise SweepError(
            f"--contrast {contrast}: no reference '{contrast}' in {path}"
            f"{did_you_mean(contrast, refs)}; references: "
            f"{', '.join(refs)}"
        )
    return refs[contrast]


def _check_plan(study, design: dict[str, Any], url: str) -> dict[str, Any]:
    """The stored plan of an existing noise study when it has ``design``'s hash; else one line
    saying what was run and what to do."""
    from sweep import record
    from sweep.storage import mask_url

    stored = study.user_attrs.get(record.STUDY_NOISE_PLAN) or {}
    name = study.study_name
    delete = f"optuna delete-study --study-name {name} --storage {mask_url(url)}"
    if stored.get("kind") != "noise":
        raise SweepError(
            f"study '{name}' in {mask_url(url)} was not made by sweep noise; "
            f"rename the file's study:, or delete it ({delete})"
        )
    if stored.get("hash") == design["hash"]:
        return dict(stored)
    same = ("n_data_seeds", "n_train_seeds", "contrast", "profile")
    if all(stored.get(k) == design[k] for k in same):
        what = "the search space or the configurations changed"
        todo = f"delete it to measure the new ones ({delete})"
    else:
        what = (
            f"{stored.get('n_data_seeds')} data seeds x {stored.get('n_train_seeds')} "
            f"training seeds, contrast '{stored.get('contrast')}', profile "
            f"'{stored.get('profile')}'"
        )
        todo = (
            f"continue it with --data-seeds {stored.get('n_data_seeds')} --train-seeds "
            f"{stored.get('n_train_seeds')} --contrast {stored.get('contrast')} --profile "
            f"{stored.get('profile')}, or delete it first ({delete})"
        )
    raise SweepError(
        f"noise study '{name}' in {mask_url(url)} was run with another design ({what}); {todo}"
    )


def _load_existing(spec, name: str):
    import optuna

    from sweep.storage import make_storage, mask_url

    try:
        st = make_storage(spec.storage, heartbeat=False, create=False)
        return optuna.load_study(study_name=name, storage=st)
    except (KeyError, SweepError):
        raise SweepError(
            f"no noise study '{name}' in {mask_url(spec.storage)}; run sweep "
            "noise without --analyze-only first"
        ) from None


def _base_study(spec, storage=None):
    """The study of the file in its storage, or None."""
    import optuna

    from sweep.storage import make_storage

    try:
        st = storage or make_storage(spec.storage, heartbeat=False, create=False)
        return optuna.load_study(study_name=spec.study, storage=st)
    except (KeyError, SweepError):
        return None


def _prepare(spec, prof: str, name: str, design: dict[str, Any]):
    """Create or load the noise study, store its plan and enqueue every cell of both arms that
    has no complete, waiting or running trial (a failed one as a retry of its failure)."""
    import optuna
    from optuna.trial import TrialState

    from sweep import record
    from sweep.engine.study import fail_orphans, open_study
    from sweep.noise import fresh_seeds
    from sweep.storage import make_storage

    storage = make_storage(spec.storage)
    plan = None
    try:
        found = optuna.load_study(study_name=name, storage=storage)
        if found.user_attrs.get(record.STUDY_NOISE_PLAN) or found.get_trials():
            plan = _check_plan(found, design, spec.storage)  # (else: created, then cut short)
    except KeyError:
        pass
    if plan is None:
        used = {int(s) for s in spec.seeds}
        if spec.data_seed is not None:
            used.add(int(spec.data_seed))
        if (base := _base_study(spec, storage)) is not None:
            for t in base.get_trials(deepcopy=False):
                for key in (record.SEEDS, record.DATA_SEEDS):
                    used.update(int(s) for s in t.user_attrs.get(key) or ())
        data, train = fresh_seeds(
            design["space_hash"], design["n_data_seeds"], design["n_train_seeds"], used
        )
        plan = {**design, "data_seeds": data, "train_seeds": train}
    study = open_study(spec, prof, name, create=True)
    study.set_user_attr(record.STUDY_NOISE_PLAN, plan)
    fail_orphans(study)  # trials of a killed earlier run: failed, retried once
    trials = study.get_trials(deepcopy=False)
    by_cell: dict[tuple, list] = {}
    for t in trials:
        by_cell.setdefault(cell_of(t.user_attrs), []).append(t)
    retried = record.retried_numbers(trials)
    live = (TrialState.COMPLETE, TrialState.WAITING, TrialState.RUNNING)
    for d in plan["data_seeds"]:
        for s in plan["train_seeds"]:
            for arm in plan["labels"]:
                old = by_cell.get((arm, d, s), [])
                if any(t.state in live for t in old):
                    continue
                labels = {record.LABEL_NOISE_ARM: arm}
                attrs: dict[str, Any] = {
                    record.FIXED: record.fixed_value([s], labels, recipe={}, data_seed=d),
                    **labels,
                }
                failed = [t.number for t in old if t.number not in retried]
                if failed:
                    attrs[record.RETRY_OF] = failed[-1]
                study.enqueue_trial(
                    dict(plan["arms"][arm]["raw"]), user_attrs=attrs, skip_if_exists=False
                )
    return study, plan


def cell_of(attrs) -> tuple[Any, Any, Any]:
    """``(arm, data seed, training seed)`` of a noise cell's trial attributes."""
    from sweep import record

    fixed = attrs.get(record.FIXED) or {}
    seeds = fixed.get(record.FIXED_SEEDS) or [None]
    return (
        record.fixed_labels(attrs).get(record.LABEL_NOISE_ARM),
        fixed.get(record.FIXED_DATA_SEED),
        seeds[0],
    )


# ----------------------------------------------------------------------------- the budget
def analyze(study, spec, plan: dict[str, Any]) -> dict[str, Any]:
    """The noise budget of the noise study's complete cells (every cell is needed)."""
    from sweep import record
    from sweep.noise import noise_budget
    from sweep.values import jsonable

    metric = spec.objectives[0][0]
    labels = list(plan["labels"])
    tables: dict[str, dict[tuple[int, int], float]] = {arm: {} for arm in labels}
    times = []
    for t in study.get_trials(deepcopy=False):
        arm, d, s = cell_of(t.user_attrs)
        if t.state.name != "COMPLETE" or arm not in tables or d is None or s is None:
            continue
        if d not in plan["data_seeds"] or s not in plan["train_seeds"]:
            continue
        rec = record.TrialRecord.from_trial(t)
        v = rec.per_seed(metric).get(int(s), rec.metric(metric))
        if v is None:
            continue
        tables[arm][(int(d), int(s))] = v
        total = rec.metric(record.TIME_TOTAL)
        if total is not None:
            times.append(total - (rec.metric(record.TIME_SCRATCH) or 0.0))
    n = len(labels) * len(plan["data_seeds"]) * len(plan["train_seeds"])
    have = sum(len(v) for v in tables.values())
    if have < n:
        raise SweepError(
            f"noise study '{study.study_name}': {n - have} of {n} cells have no "
            f"complete trial with {metric}; run sweep noise again (without "
            "--analyze-only) to run them"
        )
    trial_s = sum(times) / len(times) if times else None
    a, b = labels
    budget = noise_budget(tables[a], tables[b], trial_s, spec.smallest_effect, labels=(a, b))
    cells = [
        [d, s, tables[a][(d, s)], tables[b][(d, s)]]
        for d in plan["data_seeds"]
        for s in plan["train_seeds"]
    ]
    return jsonable(
        {
            "study": study.study_name,
            "base_study": plan["base_study"],
            "question": spec.question,
            "metric": metric,
            "profile": plan["profile"],
            "smallest_effect": spec.smallest_effect,
            "design": {
                "data_seeds": plan["data_seeds"],
                "train_seeds": plan["train_seeds"],
                "contrast": plan["contrast"],
                "trials": n,
                "arms": {k: v["values"] for k, v in plan["arms"].items()},
            },
            "trial_s": trial_s,
            **budget,
            "cells": cells,
            "analyzed_at": datetime.datetime.now().isoformat(timespec="seconds"),
        },
        nan_to_none=True,
    )


def store(study, spec, summary: dict[str, Any]) -> list[str]:
    """Store ``summary`` on the noise study and on the base study when the storage has it (its
    stored answer computed again); returns the names of the studies it is stored on."""
    from sweep import record

    study.set_user_attr(record.STUDY_NOISE, summary)
    out = [study.study_name]
    base = _base_study(spec)
    if base is not None:
        base.set_user_attr(record.STUDY_NOISE, summary)
        out.append(base.study_name)
        if base.user_attrs.get(record.STUDY_ANSWER):
            from sweep.answer import answer_of_study
            from sweep.values import jsonable

            answer = jsonable(answer_of_study(base), nan_to_none=True)
            base.set_user_attr(record.STUDY_ANSWER, answer)
    return out
