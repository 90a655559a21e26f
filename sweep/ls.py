"""``sweep ls``: the registered generators (or one generator's parameters), proxy tasks,
samplers, pruners, and the studies of a storage.

Imports: the standard library; rich, the generator registry, the proxy-task registry, the
samplers, Optuna and :mod:`sweep.storage` lazily, inside the command.
"""

from __future__ import annotations

import argparse
import json
from typing import Any


def add_ls(sub) -> None:
    p = sub.add_parser(
        "ls",
        help="list generators, proxy tasks, samplers or studies",
        description="Without a name: the registered generators. 'tasks', "
        "'samplers', 'pruners', 'studies' (in --storage): those. A generator "
        "name: its parameters, published defaults and valid domains.",
    )
    p.add_argument(
        "name", nargs="?", help="tasks | samplers | pruners | studies | a generator name"
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument(
        "--storage",
        default=None,
        metavar="URL",
        help="for 'studies': storage URL or file (default: $SWEEP_STORAGE, else runs/studies.db)",
    )
    p.set_defaults(func=cmd_ls)


def cmd_ls(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from sweep.generators import generator_class, list_generators

    console = Console()
    if args.name in ("tasks", "samplers", "pruners", "studies"):
        return ls_other(args.name, args.json, args.storage)
    if args.name is None:
        classes = [generator_class(n) for n in list_generators()]
        if args.json:
            print(
                json.dumps(
                    [{"name": g.name, "version": g.version, "summary": g.summary} for g in classes]
                )
            )
            return 0
        table = Table(title="generators")
        for col in ("name", "version", "published shape", "summary"):
            table.add_column(col)
        for g in classes:
            c, i, s = g.published_shape
            table.add_row(escape(g.name), g.version, f"{c} x {i} @ {s}px", escape(g.summary))
        console.print(table)
        return 0
    g = generator_class(args.name)
    if args.json:
        print(json.dumps(g.describe(), default=list))
        return 0
    table = Table(title=escape(f"{g.name} v{g.version}: {g.summary}"), caption=escape(g.reference))
    for col in ("parameter", "type", "default", "domain", "meaning"):
        table.add_column(col)
    for p in g.schema:
        default = f"[{p.default[0]}, {p.default[1]}]" if p.is_range else str(p.default)
        table.add_row(*(escape(v) for v in (p.name, p.type, default, p.describe_domain(), p.help)))
    console.print(table)
    return 0


def ls_other(what: str, as_json: bool, storage: str | None) -> int:
    rows: list[dict[str, Any]]
    if what == "tasks":
        from proxy_tasks import PROXY_TASKS

        rows = [
            {"name": n, "summary": (PROXY_TASKS.get(n).__doc__ or "").strip().split("\n")[0]}
            for n in PROXY_TASKS.names()
        ]
    elif what in ("samplers", "pruners"):
        from sweep.samplers import PRUNERS, SAMPLERS

        table = SAMPLERS if what == "samplers" else PRUNERS
        rows = [{"name": n, "optuna": table.target(n).rpartition(":")[2]} for n in table]
    else:
        import optuna

        from sweep.storage import default_storage, make_storage

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        st = make_storage(storage or default_storage(""), heartbeat=False, create=False)
        rows = [
            {
                "name": s.study_name,
                "trials": s.n_trials,
                "directions": [d.name.lower() for d in s.directions],
            }
            for s in optuna.get_all_study_summaries(st)
        ]
    if as_json:
        print(json.dumps(rows))
    else:
        for r in rows:
            print("  ".join(str(v) for v in r.values()))
    return 0
