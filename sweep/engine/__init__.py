"""The sweep engine: Optuna studies of proxy trials, run by local worker processes.

``launch`` creates (or continues) a study in a SQLAlchemy or journal storage, records the resolved
config, its hash, the git commit and package versions as study attributes, and runs the budget on
local worker processes (one per GPU, or N on the CPU). Each worker loops: take a budget ticket from
the launcher, run ONE trial with ``study.optimize(n_trials=1)`` (so RDB heartbeats work), repeat.
Each trial calls the proxy task once per replicate seed, reports the pre-training loss to the
pruner, and stores every metric (mean over replicates, and ``*_std``), timings, the dataset
fingerprint and the resolved searched values as user attributes.

Fault tolerance:

* a worker records ``host:pid`` on its trial; when a worker dies mid-trial (killed, out of
  memory), the launcher marks the orphaned trial FAIL, enqueues ONE retry with the same
  parameters, and starts a replacement worker for the lost ticket;
* workers die with the launcher (``PR_SET_PDEATHSIG`` on Linux, a parent check elsewhere), so a
  killed launcher leaves RUNNING trials but no processes; ``resume`` fails those orphans (on this
  host: their pid is gone; elsewhere: their heartbeat is stale), retries them once, and runs the
  remaining budget: completed trials are never touched;
* a trial that no worker named within ``ORPHAN_GRACE_S`` (its worker died between Optuna's ask
  and the objective) is an orphan too, found at start and every 10 s;
* Ctrl-C cuts running trials inside their objective only (never a storage write), marks them
  ``sweep:interrupted`` and exits with status 130; the next run retries them, same parameters;
* ``stop`` sets a study attribute: running trials finish, no new ones start.

A study answers its question, not with a ranking: every trial stores its per-seed values and
configuration key; a configuration suggested again runs on new seeds (a replicate), never as an
exact repeat; the published configuration and the file's references are enqueued arms of the
budget; after the budget, the best configurations and the published one are confirmed on fresh
common seeds; the answer (:mod:`sweep.answer`) is stored and printed last.

The package, by concern: :mod:`~sweep.engine.launch` (launch, resume, stop),
:mod:`~sweep.engine.arms` (published and reference arms, replicates),
:mod:`~sweep.engine.confirm` (the confirmation),
:mod:`~sweep.engine.study` (opening a study, orphans, retries, counts),
:mod:`~sweep.engine.objective` (one trial), :mod:`~sweep.engine.signals` (Ctrl-C, timeouts),
:mod:`~sweep.engine.backend` (the backend protocol and registry), :mod:`~sweep.engine.local`
(worker processes), :mod:`~sweep.engine.ray_backend` (Ray actors), :mod:`~sweep.engine.progress`
and :mod:`~sweep.engine.commands` (status, export, dashboard).

Imports: this package's modules import :mod:`sweep.record`, :mod:`sweep.storage`,
:mod:`sweep.study_config`, :mod:`sweep.samplers`, :mod:`sweep.space`, :mod:`sweep.devices`,
:mod:`sweep.seeding`, :mod:`sweep.values` and :mod:`sweep.answer` (lazily); never
:mod:`sweep.cli` nor the report. This file re-exports the public API.
"""

from __future__ import annotations

from sweep.engine.commands import dashboard, export, status
from sweep.engine.launch import resume, run, stop
from sweep.engine.objective import Objective, TrialFailed
from sweep.engine.study import counts, fail_orphans, load_study_by_name

__all__ = [
    "Objective",
    "TrialFailed",
    "counts",
    "dashboard",
    "export",
    "fail_orphans",
    "load_study_by_name",
    "resume",
    "run",
    "status",
    "stop",
]
