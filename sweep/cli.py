"""The ``sweep`` command line. Heavy modules are imported inside commands, so ``--help`` is fast.

Every user error prints one line, ``sweep: error: ...``, and exits with status 2 before
anything is written. ``sweep ls`` lives in :mod:`sweep.ls`.

Imports: the standard library, :mod:`sweep.errors`, :mod:`sweep.cliargs`, :mod:`sweep.ls`,
:mod:`sweep.engine_cli` (``validate``, ``launch``, ``resume``, ``status``, ...);
every command's modules (the engine, the schema, the report, ...) lazily, inside the command.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from sweep.cliargs import (
    DEVICE_HELP,
    PROGRESS_HELP,
    parse_overrides,
    run_args,
    study_args,
)
from sweep.engine_cli import add_engine, check_profile_device
from sweep.errors import SweepError
from sweep.ls import add_ls


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2
        if message.startswith("argument ") and ": " in message:  # "--trials: ...", like the
            message = message.removeprefix("argument ")  # one-line errors of every command
        self.exit(2, f"sweep: error: {message} (see '{self.prog} --help')\n")


def _add_generate(sub) -> None:
    p = sub.add_parser(
        "generate",
        help="write a synthetic dataset (ImageFolder tree + parameters) to disk",
        description="Render a formula-driven dataset to an ImageFolder tree with one parameters "
        "file per dataset. Resumes an interrupted run when given the same arguments. With "
        "--from STUDY:TRIAL, the dataset a study's trial pre-trained on (the winner's, say), "
        "at the size -c/-n/-s ask for (default: the trial's own).",
    )
    p.add_argument("generator", nargs="?", help="generator name ('sweep ls'; visualatom)")
    p.add_argument(
        "--from",
        dest="from_trial",
        metavar="STUDY:TRIAL",
        help="render the dataset trial TRIAL of study STUDY stored",
    )
    p.add_argument("--storage", metavar="URL", help="with --from: the study's storage URL or file")
    p.add_argument("-c", "--classes", type=int, help="number of classes (16)")
    p.add_argument("-n", "--instances", type=int, help="images per class (16)")
    p.add_argument("-s", "--size", "--image-size", type=int, help="image size in px (128)")
    p.add_argument("--seed", type=int, help="dataset seed (0)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        metavar="KEY=VALUE",
        help="override a generator parameter, e.g. --set freq1=[0,3] (repeatable)",
    )
    p.add_argument(
        "-o",
        "--out",
        default=None,
        help="output directory (default: runs/datasets/<generator>-<fingerprint>)",
    )
    p.add_argument(
        "-j", "--workers", type=int, default=None, help="worker processes (default: all CPU cores)"
    )
    p.add_argument(
        "--device",
        default="numpy",
        help="render with numpy (CPU, default), or a torch device: auto, cpu, cuda",
    )
    p.add_argument(
        "--preview",
        action="store_true",
        help="also write preview.png, a contact sheet of classes x instances",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_generate)


def cmd_generate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from sweep.dataset import Dataset
    from sweep.generate import command_spec, generate

    spec, source = command_spec(
        args.generator,
        parse_overrides(args.overrides),
        args.from_trial,
        args.storage,
        classes=args.classes,
        instances=args.instances,
        image_size=args.size,
        seed=args.seed,
    )
    out = args.out
    if out is None:
        ds = Dataset(spec)
        out = Path("runs") / "datasets" / f"{ds.generator.name}-{ds.fingerprint[:8]}"
    summary = generate(
        spec,
        out,
        workers=args.workers,
        device=args.device,
        preview=args.preview,
        progress=not args.no_progress,
        source=source,
    )
    verb = "resumed" if summary["resumed"] else "wrote"
    print(
        f"{verb} {summary['written']} images ({summary['skipped_classes']} classes already "
        f"done) in {summary['seconds']:.1f} s -> {summary['out']}"
    )
    if summary["preview"]:
        print(f"preview: {summary['preview']}")
    return 0


def _add_diversity(sub) -> None:
    p = sub.add_parser(
        "diversity",
        help="print the diversity block of a synthetic dataset as JSON",
        description="Render a dataset in memory and print its diversity block (spectral Vendi "
        "q=1 and q=2, within-class Vendi, between/within ratio, Fisher ratio, complexity "
        "controls, and the Vendi scores after the pre-training augmentation) as JSON: the same "
        "numbers every sweep trial stores as diversity/* user attributes.",
    )
    p.add_argument("--generator", default="visualatom", help="generator name (visualatom)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        metavar="KEY=VALUE",
        help="override a generator parameter, e.g. --set freq1=[0,3] (repeatable)",
    )
    p.add_argument("-c", "--classes", type=int, default=100, help="number of classes (100)")
    p.add_argument("-n", "--instances", type=int, default=10, help="images per class (10)")
    p.add_argument("-s", "--size", type=int, default=128, help="render size in px (128)")
    p.add_argument("--seed", type=int, default=0, help="dataset seed (0)")
    p.add_argument("--sample", type=int, default=1000, help="images in the sample (1000)")
    p.add_argument(
        "--augment",
        default="gpu",
        choices=("gpu", "cpu", "none"),
        help="the pre-training augmentation of this recipe preset for the aug_* numbers "
        "(gpu: the published RRC + mixup/cutmix; none: skip them)",
    )
    p.set_defaults(func=cmd_diversity)


def cmd_diversity(args: argparse.Namespace) -> int:
    import json

    from sweep.dataset import Dataset, DatasetSpec
    from sweep.diversity import diversity_block

    for name in ("sample", "classes", "instances", "size"):
        if getattr(args, name) <= 0:
            raise SweepError(f"--{name}: must be a positive integer, got {getattr(args, name)}")
    ds = Dataset(
        DatasetSpec(
            generator=args.generator,
            classes=args.classes,
            instances=args.instances,
            image_size=args.size,
            seed=args.seed,
            params=parse_overrides(args.overrides),
        )
    )
    images, labels = ds.arrays()
    augment = None
    if args.augment != "none":
        from proxy_tasks.augment import pretrain_augment
        from proxy_tasks.recipe import make_recipe

        augment = pretrain_augment(make_recipe(args.augment, {}), args.seed)
    block = diversity_block(images, labels, n=args.sample, seed=args.seed, augment=augment)
    out = {"dataset": {"fingerprint": ds.fingerprint, **ds.config()}, "diversity": block}
    print(json.dumps(out, indent=2))
    return 0


def _add_trial(sub) -> None:
    p = sub.add_parser(
        "trial",
        help="run one proxy trial from a search-space file and print its metrics as JSON",
        description="Run one trial of a search-space file with fixed parameters (searched "
        "parameters keep their fixed or published values unless given with --set) and print "
        "its metrics as JSON. Exit status: 0 complete, 1 failed or pruned, 2 bad input.",
    )
    p.add_argument("file", help="a search-space YAML file (see search_spaces/)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        metavar="KEY=VALUE",
        help="a generator parameter (freq1=[0,3], generator.freq1=...) or recipe "
        "field (pretrain_epochs=5, recipe.lr=2e-3); repeatable",
    )
    p.add_argument(
        "--profile",
        choices=("auto", "cpu", "gpu"),
        default=None,
        help="recipe preset (default: the file's, else auto: gpu with CUDA)",
    )
    p.add_argument("--seed", type=int, default=None, help="training (and data) seed")
    p.add_argument(
        "--seeds",
        default=None,
        help="replicates, e.g. 0,1,2: one trial per seed, then mean and std",
    )
    p.add_argument(
        "--data-seed",
        type=int,
        default=None,
        help="fix the synthetic dataset's seed across replicates",
    )
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument(
        "--root",
        action="append",
        metavar="NAME=DIR",
        default=None,
        help="local root of a downstream dataset (cifar10, cifar100, imagefolder)",
    )
    p.add_argument(
        "--download",
        action="store_true",
        help="let torchvision download missing downstream datasets",
    )
    p.add_argument(
        "--cache",
        default="runs/cache",
        help="directory of cached scratch baselines (runs/cache); 'none' disables",
    )
    p.set_defaults(func=cmd_trial)


def cmd_trial(args: argparse.Namespace) -> int:
    from sweep.trial import run_from_file

    check_profile_device(args, here=True)
    sets = parse_overrides(args.overrides)
    roots = {}
    for item in args.root or ():
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise SweepError(f"--root '{item}': expected NAME=DIR, e.g. --root cifar10=~/data")
        roots[name] = path
    seeds: list[int] | None
    if args.seeds is not None:
        try:
            seeds = [int(v) for v in args.seeds.split(",") if v.strip()]
        except ValueError:
            raise SweepError(f"--seeds '{args.seeds}': expected integers like 0,1,2") from None
    else:
        seeds = None if args.seed is None else [args.seed]
    for s in seeds or ():
        if s < 0:
            raise SweepError(f"--seeds: seeds must be non-negative, got {s}")
    out = run_from_file(
        args.file,
        sets=sets,
        profile=args.profile,
        seeds=seeds,
        data_seed=args.data_seed,
        device=args.device,
        roots=roots,
        download=args.download,
        cache_dir=None if args.cache == "none" else args.cache,
    )
    print(json.dumps(out, indent=1, default=float))
    return 0 if out["status"] == "complete" else 1


def _add_report(sub) -> None:
    p = sub.add_parser(
        "report",
        help="write a study's self-contained HTML report",
        description="Write ONE self-contained HTML file (plotly.js inlined, works offline) with "
        "the study summary, sample images, diversity against downstream accuracy (Spearman rho, "
        "bootstrap interval, partial on the complexity controls), importances, parallel "
        "coordinates, slice, contour and Pareto plots, learning curves, replicate spread and "
        "failures; and attach the key figures and a note to the study for optuna-dashboard.",
    )
    study_args(p)
    p.add_argument(
        "-o", "--out", default=None, help="HTML file or directory (runs/reports/STUDY.html)"
    )
    p.add_argument(
        "--no-dashboard",
        action="store_true",
        help="do not attach figures and a note to the study (only read it)",
    )
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from reports import write_report

    out = write_report(args.study, args.storage, args.out, dashboard=not args.no_dashboard)
    c = out["counts"]
    print(
        f"sweep: report of '{args.study}' ({c['COMPLETE']} complete, {c['PRUNED']} pruned, "
        f"{c['FAIL']} failed; {out['bytes'] / 2**20:.1f} MiB)"
        + (
            f"; {len(out['dashboard'])} figures and a note attached for the dashboard"
            if out["dashboard"]
            else ""
        ),
        file=sys.stderr,
    )
    print(out["path"])
    return 0


def _add_calibrate(sub) -> None:
    p = sub.add_parser(
        "calibrate",
        help="measure how far a cheap proxy ranks configurations like the expensive one",
        description="Run the calibration of a search-space file's 'calibration:' section: "
        "every configuration at every fidelity level with several seeds, as trials of a "
        "calibration study in the same storage (running it again resumes), then print each "
        "level's Spearman and Kendall tau-b with the most expensive level (two-stage bootstrap "
        "intervals), noise ceiling, attenuation-corrected correlation, ICC, MDD, top-k recall "
        "and regret, trivial baselines, and the verdict: the cheapest level whose corrected "
        "correlation is at least the threshold. The summary is stored on the study.",
    )
    p.add_argument("file", help="a search-space YAML file with a calibration: section")
    run_args(p)
    p.add_argument("--device", default="auto", help=DEVICE_HELP)
    p.add_argument(
        "--analyze-only",
        action="store_true",
        help="run nothing: analyse the completed trials of the calibration study",
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--no-progress", action="store_true", help=PROGRESS_HELP)
    p.set_defaults(func=cmd_calibrate)


def cmd_calibrate(args: argparse.Namespace) -> int:
    from sweep.calibration.run import calibrate
    from sweep.calibration.summary import print_summary

    if not args.analyze_only:  # (an analysis runs nothing: any profile reads the trials)
        check_profile_device(args)
    summary = calibrate(
        args.file,
        profile=args.profile,
        storage=args.storage,
        workers=args.workers,
        device=args.device,
        analyze_only=args.analyze_only,
        progress=not args.no_progress,
    )
    print_summary(summary, as_json=args.json)
    return 0


def _add_schema(sub) -> None:
    p = sub.add_parser(
        "schema",
        help="print the JSON Schema of search-space files (for editors)",
        description="Print the JSON Schema of a search-space file, generated from the typed "
        "models 'sweep validate' uses; the package ships the same text as "
        "sweep/schema/study.schema.json. It checks each key's shape and type; 'sweep validate' "
        "also checks what spans keys (parameter domains, searched ranges, sampler options).",
    )
    p.set_defaults(func=cmd_schema)


def cmd_schema(args: argparse.Namespace) -> int:
    from sweep.schema.jsonschema import study_json_schema_text

    sys.stdout.write(study_json_schema_text())
    return 0


def build_parser() -> argparse.ArgumentParser:
    from sweep import __version__, noise_cli

    parser = _Parser(
        prog="sweep",
        description="Design-space search for formula-driven supervised learning (FDSL).",
    )
    parser.add_argument("--version", action="version", version=f"sweep {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    _add_generate(sub)
    _add_diversity(sub)
    add_ls(sub)
    _add_trial(sub)
    _add_schema(sub)
    add_engine(sub)
    _add_calibrate(sub)
    noise_cli.add_noise(sub)
    _add_report(sub)
    return parser


def _as_interrupt(signum: int, frame: Any) -> None:
    from sweep.engine.signals import in_finalizer, resend

    if in_finalizer(frame):  # a KeyboardInterrupt raised there is printed and dropped
        resend(signum)
        return
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _commands(parser: argparse.ArgumentParser) -> list[str]:
    """The subcommand names, in the order ``--help`` lists them."""
    for action in parser._actions:  # argparse keeps its subparsers only here
        if isinstance(action, argparse._SubParsersAction):
            return list(action.choices)
    return []


def main(argv: Sequence[str] | None = None) -> int:
    if hasattr(signal, "SIGPIPE"):  # `sweep status | head` ends quietly
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    for sig in (signal.SIGTERM, signal.SIGHUP):  # kill PID, timeout, a scheduler, a closed
        signal.signal(sig, _as_interrupt)  # terminal: the same path as Ctrl-C
    parser = build_parser()
    from_command_line = argv is None  # (not a test or a script calling main)
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = _commands(parser)
    if argv and not argv[0].startswith("-") and argv[0] not in commands:
        from sweep.errors import did_you_mean

        print(
            f"sweep: error: unknown command '{argv[0]}'{did_you_mean(argv[0], commands)}; "
            f"commands: {', '.join(commands)}",
            file=sys.stderr,
        )
        return 2
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:  # a refused argument (its line is printed), --help, --version
        return 0 if e.code is None else e.code if isinstance(e.code, int) else 2
    if not getattr(args, "func", None):  # bare `sweep`: the help, and a status that says so
        parser.print_help(sys.stderr)
        return 2
    try:
        return args.func(args)
    except SweepError as e:
        print(f"sweep: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt as e:
        how = f" ({e.args[0]})" if e.args and str(e.args[0]).startswith("SIG") else ""
        print(f"sweep: interrupted{how}; run the same command again to resume", file=sys.stderr)
        if from_command_line:  # the process ends now: skip the collector's walk of the heap
            from sweep.engine.signals import stopping

            stopping()
        return 130
    except Exception as e:  # a damaged storage or a full disk: one line, not a traceback
        from sweep.storage import describe_failure

        if (why := describe_failure(e)) is None:
            raise
        print(f"sweep: error: {why}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
