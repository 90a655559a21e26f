"""Backends: where a study's trials run, by name. The one list of them.

``local`` runs worker processes on this machine (:mod:`sweep.engine.local`), ``ray`` Ray actors
on a local Ray or a cluster (:mod:`sweep.engine.ray_backend`). ``BACKENDS`` is read by the
command line (``--backend`` choices, :mod:`sweep.cliargs`), the study file's schema (``backend:``,
:mod:`sweep.schema.engine`) and the engine (:func:`sweep.engine.backend.get_backend`). Each entry
is the backend's ``run_workers`` function, imported on lookup; it follows the protocol
:class:`sweep.engine.backend.RunWorkers`. Listing the names imports neither backend, so the
schema (a lower layer) names them without depending on the engine.

Imports: the standard library and :mod:`sweep.registry` (the backends lazily, by name).
"""

from __future__ import annotations

from collections.abc import Callable

from sweep.registry import Registry

BACKENDS: Registry[Callable[..., None]] = Registry("backend", ordered=True)
BACKENDS.register("local", "sweep.engine.local:run_workers")
BACKENDS.register("ray", "sweep.engine.ray_backend:run_workers")
