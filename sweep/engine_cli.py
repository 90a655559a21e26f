"""The commands that run and watch a study: ``validate``, ``launch``, ``resume``, ``status``,
``export``, ``stop``, ``dashboard``. The engine and the schema load inside each command.

Imports: the standard library, :mod:`sweep.cliargs`; the rest lazily, inside the commands.
"""

from __future__ import annotations

import argparse
import json
import sys

from sweep.cliargs import (
    DEVICE_HELP,
    PROGRESS_HELP,
    WORKERS_HELP,
    backend_args,
    count_arg,
    run_args,
    study_args,
)
from sweep.errors import SweepError
from sweep.limits import MAX_TRIALS, MAX_WORKERS


def add_engine(sub) -> None:
    p = sub.add_parser(
        "validate",
        help="check search-space files without running anything",
        description="Validate search-space files: exit 0 when all are valid, "
        "2 with one line per file otherwise.",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="search-space YAML files")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser(
        "launch",
        help="run a study from a search-space file",
        description="Create (or continue) the study of a search-space file and run its budget "
        "on local worker processes or Ray actors, then confirm the best configurations on "
        "fresh seeds and print the study's answer last.",
    )
    p.add_argument("file", help="a search-space YAML file (see search_spaces/)")
    run_args(p)
    p.add_argument(
        "--trials",
        type=count_arg("--trials", MAX_TRIALS, "trials"),
        default=None,
        metavar="N",
        help=f"the study's search budget in trials, 1 to {MAX_TRIALS:,}, "
        "counting those already run (default: the file's budget.trials)",
    )
    p.add_argument("--device", default="auto", help=DEVICE_HELP)
    p.add_argument(
        "--fork",
        default=None,
        metavar="NAME",
        help="start a new study NAME when the file's search space changed",
    )
    p.add_argument("--no-progress", action="store_true", help=PROGRESS_HELP)
    backend_args(p)
    p.set_defaults(func=cmd_launch)

    p = sub.add_parser(
        "resume",
        help="continue a study after an interruption",
        description="Continue a study (for example after the launcher was "
        "killed) with its remaining budget, from the file and profile stored in "
        "the study; orphaned trials are failed and retried once.",
    )
    study_args(p)
    p.add_argument(
        "--workers",
        type=count_arg("--workers", MAX_WORKERS, "workers"),
        default=None,
        metavar="N",
        help=WORKERS_HELP,
    )
    p.add_argument("--device", default="auto", help=DEVICE_HELP)
    p.add_argument(
        "--fork",
        default=None,
        metavar="NAME",
        help="start a new study NAME from the changed file instead",
    )
    p.add_argument("--no-progress", action="store_true", help=PROGRESS_HELP)
    backend_args(p)
    p.set_defaults(func=cmd_resume)

    p = sub.add_parser(
        "status",
        help="counts, budget, best and running trials and the answer of a study",
        description="A study's trials by state, its search budget "
        "used, its best and running trials and its answer; without a study "
        "name, the studies of the storage.",
    )
    p.add_argument("study", nargs="?", help="study name (default: list the studies)")
    study_args(p, study=False)
    p.add_argument(
        "--json",
        action="store_true",
        help="one JSON object: counts, budget, arms, the answer, the confirmation "
        "plan, best and running trials",
    )
    p.set_defaults(func=cmd_status)

    p = sub.add_parser(
        "export",
        help="write a study's trials as CSV and JSON",
        description="Write trials.csv and trials.json (parameters, values, "
        "state and every attribute of every trial) into a directory. Existing "
        "exports there are kept unless --force.",
    )
    study_args(p)
    p.add_argument(
        "-o",
        "--out",
        default=None,
        metavar="DIR",
        help="output directory (default: runs/exports/STUDY)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="overwrite the trials.csv and trials.json already there",
    )
    p.set_defaults(func=cmd_export)

    p = sub.add_parser(
        "stop",
        help="let running trials finish and start no new ones",
        description="Ask a running launch to stop: its running trials finish, "
        "no new ones start; 'sweep resume' continues later.",
    )
    study_args(p)
    p.set_defaults(func=cmd_stop)

    p = sub.add_parser(
        "dashboard",
        help="start optuna-dashboard on 127.0.0.1",
        description="Serve optuna-dashboard for a storage on 127.0.0.1 only "
        "(reach it from another machine through an SSH tunnel); Ctrl-C stops "
        "it.",
    )
    p.add_argument(
        "storage",
        nargs="?",
        default=None,
        help="storage URL or file (default: $SWEEP_STORAGE, else runs/studies.db)",
    )
    p.add_argument("--port", type=int, default=8080, help="TCP port, 1-65535 (default: 8080)")
    p.set_defaults(func=cmd_dashboard)


def cmd_validate(args: argparse.Namespace) -> int:
    from sweep.study_config import load_study_config

    bad = 0
    for f in args.files:
        try:
            spec = load_study_config(f)
            if spec.file.calibration is not None:  # sweep calibrate's section
                from sweep.calibration.plan import load_calibration

                load_calibration(spec)
            print(f"{f}: ok")
        except SweepError as e:
            print(f"sweep: error: {e}", file=sys.stderr)
            bad += 1
    return 2 if bad else 0


def print_summary(summary: dict) -> None:
    """The launch's last lines: counts; the arms the answer compared on common seeds (its
    best, the other candidates and the published one, each a mean over its paired seeds)
    ahead of the search's best single trials (labelled as such); the answer, its warnings and
    next steps."""
    import shutil
    import textwrap

    from rich.console import Console
    from rich.table import Table

    from sweep.engine.commands import counts_text, values_text

    width = max(40, shutil.get_terminal_size().columns)  # ($COLUMNS, else the terminal)

    def say(head: str, text: str, indent: str) -> None:
        print(textwrap.fill(text, width, initial_indent=head, subsequent_indent=indent))

    say(
        f"study '{summary['study']}' ",
        f"({summary['storage']}): {counts_text(summary['counts'])}",
        "  ",
    )
    answer = summary.get("answer") or {}
    rows = []
    best = answer.get("best") or {}
    if best.get("seeds", 0) > 1:  # the confirmation's arms, on common seeds
        label = "best" if answer.get("verdict") != "difference" else "winner"
        rows.append((f"#{best.get('trial', '')}", label, best["seeds"], best["mean"], best))
        for c in answer.get("candidates") or ():
            if c.get("config") != best.get("config"):
                rows.append(("", "candidate", c.get("n", ""), c["mean"], c))
        pub = answer.get("published") or {}
        if pub.get("mean") is not None:
            n = pub.get("seeds", "")
            rows.append((f"#{pub.get('trial', '')}", "published", n, pub["mean"], pub))
    for t in summary.get("top") or ():
        what = t.get("arm", "search")
        rows.append((f"#{t['number']}", f"{what} trial", t.get("seeds", 1), t["values"], t))
    if rows:
        compared = bool(best.get("seeds", 0) > 1)
        table = Table(
            title="compared on common seeds, then the best single trials"
            if compared
            else "best trials"
        )
        for col in ("trial", "arm", "seeds", "value", "searched parameters"):
            table.add_column(col, overflow="fold")
        for number, arm, seeds, value, row in rows:
            given = json.loads(row["config"]) if row.get("config") else row.get("params")
            params = (
                ", ".join(f"{k}={json.dumps(v)}" for k, v in given.items())
                if isinstance(given, dict)
                else row.get("label", "")
            )
            shown = values_text(value if isinstance(value, list) else [value])
            table.add_row(number, arm, str(seeds), shown, str(params))
        Console().print(table)
    if summary.get("answer_line"):  # the study's answer to its question, then what it
        sys.stdout.flush()  # warns of and what to do next: the last lines
        say("answer: ", summary["answer_line"], "  ")
        answer = summary.get("answer") or {}
        for w in answer.get("warnings") or ():
            say("  warning: ", w, "    ")
        for step in answer.get("next") or ():
            say("  next: ", step, "    ")


def all_failed(summary: dict) -> int:
    """0, or 1 with one line naming the first failure when the study has failed trials and
    none complete (a launch that ran nothing useful must not exit 0)."""
    if summary.get("first_failure") and not summary["counts"].get("COMPLETE"):
        n = summary["counts"].get("FAIL", 0)
        print(
            f"sweep: error: every trial failed ({n}); the first: {summary['first_failure']}",
            file=sys.stderr,
        )
        return 1
    return 0


def check_profile_device(args: argparse.Namespace, *, here: bool = False) -> None:
    """``--profile gpu`` (or the file's ``proxy.profile: gpu``) needs a CUDA device on this
    machine, unless the trials run on a Ray cluster (an address; ``here``: they never do, as
    for ``sweep trial``): one line before anything runs
    (:func:`sweep.devices.check_gpu_profile`)."""
    if args.profile in ("auto", "cpu"):
        return  # nothing to check, and nothing to load
    import os

    from sweep.devices import check_gpu_profile
    from sweep.schema.document import load_study_file

    doc = load_study_file(args.file)  # (the command reads it again, from the cache of imports)
    backend, address = getattr(args, "backend", None), getattr(args, "address", None)
    ray = backend == "ray" or (backend is None and (address or doc.backend.name == "ray"))
    where = address or doc.backend.address or os.environ.get("RAY_ADDRESS")
    label = "--profile" if args.profile else f"{args.file}: proxy.profile"
    check_gpu_profile(
        args.profile or doc.proxy.profile,
        args.device,
        remote=bool(not here and ray and where),
        label=label,
    )


def cmd_launch(args: argparse.Namespace) -> int:
    from sweep.engine import run

    check_profile_device(args)
    summary = run(
        args.file,
        profile=args.profile,
        storage=args.storage,
        workers=args.workers,
        trials=args.trials,
        device=args.device,
        fork=args.fork,
        progress=not args.no_progress,
        backend=args.backend,
        address=args.address,
    )
    print_summary(summary)
    return all_failed(summary)


def cmd_resume(args: argparse.Namespace) -> int:
    from sweep.engine import resume

    summary = resume(
        args.study,
        storage=args.storage,
        fork=args.fork,
        workers=args.workers,
        device=args.device,
        progress=not args.no_progress,
        backend=args.backend,
        address=args.address,
    )
    print_summary(summary)
    return all_failed(summary)


def cmd_status(args: argparse.Namespace) -> int:
    from sweep.engine.commands import status_text

    if text := status_text(args.study, args.storage, as_json=args.json):
        print(text)  # (an empty storage lists nothing)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from sweep.engine import export

    out = export(args.study, args.storage, args.out, force=args.force)
    print(f"wrote {out['csv']} and {out['json']}")
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    from sweep.engine import stop

    stop(args.study, args.storage)
    print(f"study '{args.study}': running trials will finish; no new ones start")
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    from sweep.engine import dashboard

    return dashboard(args.storage, args.port)
