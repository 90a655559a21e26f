"""The Ray backend of the sweep engine: Ray-launched Optuna workers on a shared study database.

``backend: ray`` (or ``sweep launch --backend ray [--address ADDR]``) runs a study's trials on
Ray actors instead of local worker processes. Each actor holds the per-trial resources
(``resources: {cpus: 1, gpus: 0.5}``, fractional GPUs allowed), opens the SAME study database
and runs the engine's own :class:`sweep.engine.objective.Objective` with
``study.optimize(n_trials=1)``
per budget ticket: the sampler stays Optuna's, RDB heartbeats work, and every trial carries
exactly the attributes the local backend writes (``param:*``, metrics, ``*_std``,
``dataset_fingerprint``, seeds, device, ``sweep:worker`` = ``host:pid``).

Why not Ray Tune with ``OptunaSearch``: measured on Ray 2.60 (``shared/docs/optuna-ray-notes.md``),
``Tuner.restore`` after a killed driver fails with ``UpdateFinishedTrialError`` (it re-runs trials
that are COMPLETE in the study), trials stay RUNNING (no heartbeat under ask/tell), Ray processes
outlive the driver, ASHA-stopped trials reach Optuna as COMPLETE with a partial value, no user
attribute reaches the study, and Ray keeps a second per-trial record. Here the study database is
the only record, and the crash paths are the local backend's:

* an actor that dies mid-trial (killed, out of memory, node lost): the driver sees the actor
  error, marks the trial FAIL (``error``: "worker died mid-trial"), enqueues ONE retry with the
  same parameters (``sweep:retry_of``) and starts a replacement actor for the ticket;
* a killed driver: when it had started the local Ray itself, a reaper process (started before
  Ray, in its own session) notices the driver's death through a pipe and kills every Ray process
  the driver started, so nothing is left behind; on a cluster (``address``) Ray kills the job's
  actors. ``sweep resume`` then fails the orphans (pid gone on this host; heartbeat stale
  elsewhere), retries them once and runs the remaining budget; completed trials are untouched.

Network exposure: a local Ray (no ``address``, no ``RAY_ADDRESS``) is started bound to the
loopback only (:func:`loopback_only`): its GCS, raylet, object manager and workers listen on
127.0.0.1, so nothing outside the machine can reach them; the dashboard is not started. Ray's
own token authentication (on by default in Ray 2.60: ``~/.ray/auth_token``) is left as Ray
sets it; only the tests turn it off (``RAY_AUTH_MODE=disabled``). Joining a cluster
(``address``) changes nothing of the cluster's own binding: start it as its operators decide
(``ray start --head --node-ip-address ...``).

Budget: every trial claims its ticket of the study's budget in the storage as it starts
(:func:`sweep.record.claim_holds`), as the local workers' do, so Ray drivers, local launchers
and resumes on one study share ONE budget; an actor whose trial gave its ticket back, or that
finds the study's work done (:func:`sweep.engine.claims.open_tickets`), says so to the driver
(``run_one``), and the driver gives the ticket back or retires the actor. Each actor's sampler
is seeded from its first trial's number (:class:`sweep.engine.local.FirstTrialSeeded`).

Ray Tune schedulers (``scheduler: asha`` or ``hyperband``, single objective) decide early stops
with Ray Tune's own ``AsyncHyperBandScheduler`` rung logic, replayed from the intermediate values
stored in the study (:mod:`sweep.engine.ray_scheduler`): a stopped trial is recorded PRUNED with
its partial curve, never COMPLETE, and a restarted driver loses no scheduler state. PBT is refused:
it mutates running trials' hyperparameters from checkpoints, which a proxy trial (its dataset is
fixed when it starts) and an Optuna sampler do not have.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sweep.engine.ray_scheduler import scheduler_pruner, with_scheduler
from sweep.errors import SweepError

ROOT = Path(__file__).resolve().parents[2]
#: packages shipped to a remote cluster (``runtime_env.py_modules``): the driver's exact code
PY_MODULES = (ROOT / "sweep", ROOT / "proxy_tasks")
#: a Ray worker that fails to start this many times in a row ends the run
MAX_START_FAILURES = 3
#: how long the Ray head (its GCS port) may refuse or ignore the driver before the driver
#: says it is lost (Ray itself would end the driver's process after 60 s, in many lines)
HEAD_PATIENCE_S = 5.0
#: how long the driver and its actors wait for a study database that went away (a restart,
#: a network cut) before they give up on it
DB_PATIENCE_S = 90.0


def transient(e: BaseException) -> bool:
    """Whether ``e`` (or its cause) is a lost or refused connection to the study database: a
    PostgreSQL restart or a network cut, not a fault of the data."""
    seen: set[int] = set()
    cause: BaseException | None = e
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        names = {c.__name__ for c in type(cause).__mro__}
        module = type(cause).__module__
        if getattr(cause, "connection_invalidated", False):
            return True
        if "OperationalError" in names and module.startswith(("psycopg", "sqlalchemy")):
            return "sqlite" not in str(cause).lower()[:200]
        cause = cause.__cause__ or cause.__context__
    return False


def patient(fn, *args, **kwargs):
    """``fn(*args, **kwargs)``, tried again while the study database is away (at most
    :data:`DB_PATIENCE_S`); any other error, or a database away longer, is raised."""
    deadline = time.monotonic() + DB_PATIENCE_S
    while True:
        try:
            return fn(*args, **kwargs)
        except Exception as e:
            if not transient(e) or time.monotonic() > deadline:
                raise
            time.sleep(1.0)


def _patient_heartbeat(storage) -> None:
    """A heartbeat that misses a beat while the database is away instead of ending: Optuna's
    heartbeat thread stops at its first error, and the trial, still running, would be failed
    as stale by another worker 30 s later."""
    beat = getattr(storage, "record_heartbeat", None)
    if beat is None:
        return

    def record_heartbeat(trial_id: int) -> None:
        try:
            beat(trial_id)
        except Exception as e:
            if not transient(e):
                raise
            logging.getLogger("sweep").warning("heartbeat of trial %s missed: %s", trial_id, e)

    storage.record_heartbeat = record_heartbeat


# ----------------------------------------------------------------------------- worker actor
class RayWorker:
    """One Ray actor: the engine's worker loop body, one ``study.optimize(n_trials=1)`` per call.

    ``payload`` carries the search-space file's text (a remote node does not have the file),
    the storage URL, study name, profile, device and per-trial CPUs."""

    def __init__(self, payload: dict[str, Any], index: int) -> None:
        cpus = max(1, int(payload["cpus"]))
        os.environ["OMP_NUM_THREADS"] = str(cpus)  # before torch is imported
        import optuna

        from sweep.engine.backend import worker_config
        from sweep.engine.local import FirstTrialSeeded, optuna_log_filter
        from sweep.engine.objective import Objective
        from sweep.samplers import make_pruner, make_sampler
        from sweep.storage import make_storage

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        logging.getLogger("optuna.study._optimize").addFilter(optuna_log_filter)
        storage = patient(make_storage, payload["storage"])
        _patient_heartbeat(storage)
        spec = with_scheduler(worker_config(payload["plan"], storage), payload["scheduler"])
        pruner = scheduler_pruner(spec, payload["profile"]) or make_pruner(spec)
        make_sampler(spec, seed=0)  # a sampler the file cannot have fails the actor now
        sampler = FirstTrialSeeded(
            lambda seed: make_sampler(spec, seed=seed), payload["sampler_seed"]
        )
        self.study = patient(
            optuna.load_study,
            study_name=payload["study"],
            storage=storage,
            sampler=sampler,
            pruner=pruner,
        )
        device = payload["device"]
        if device != "cpu":  # Ray sets CUDA_VISIBLE_DEVICES to this actor's GPU(s)
            import ray

            device = "cuda:0" if ray.get_gpu_ids() else "cpu"
        if device == "cpu":
            import torch

            torch.set_num_threads(cpus)
        cache = payload["cache_dir"]
        if cache:  # the launcher's path may not exist on another node: a local cache there
            try:
                Path(cache).mkdir(parents=True, exist_ok=True)
            except OSError:
                cache = str(Path(tempfile.gettempdir()) / "sweep-cache")
        self.objective = Objective(spec, payload["profile"], device, cache)
        self.objective.budget = payload["budget"]
        self.storage = payload["storage"]
        self.phase = payload["phase"]

    def identity(self) -> str:
        """``host:pid``, as the trials this actor runs record in ``sweep:worker``."""
        import socket

        return f"{socket.gethostname()}:{os.getpid()}"

    def run_one(self) -> str:
        """One trial: ``ran``; ``lost`` (it gave its budget ticket back, nothing ran); ``done``
        (the study has no work left, whoever took it: nothing was asked); ``failed`` (the
        study database went away mid-trial: the trial was failed and one retry enqueued once
        it was back)."""
        from sweep.engine.claims import open_tickets
        from sweep.engine.study import fail_orphans
        from sweep.storage import PopLock

        if patient(open_tickets, self.study, self.objective.budget or 0, self.phase) <= 0:
            return "done"
        # Any exception fails the trial (Optuna records it), never the actor. On SQLite, the
        # local workers' lock keeps two actors of this host from popping the same retry, or
        # claiming the same replicate (held until the objective has claimed it).
        with PopLock(self.storage) as lock:
            self.objective.lock = lock
            try:
                self.study.optimize(self.objective, n_trials=1, catch=(Exception,))
            except Exception as e:
                # Optuna could not record the trial's end (or start): the database is away.
                # When it is back, this actor's RUNNING trial is failed and retried once, as
                # a dead worker's would be; nothing of it is kept as complete.
                if not transient(e):
                    raise
                logging.getLogger("sweep").warning("study database lost mid-trial: %s", e)
                patient(fail_orphans, self.study, dead={self.identity()})
                return "failed"
            finally:
                self.objective.release()
        return "lost" if self.objective.lost else "ran"


# ----------------------------------------------------------------------------- Ray session
_REAPER = r"""
import os, select, signal, sys
driver, me = int(sys.argv[1]), os.getpid()

def stat(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return int(fields[1]), int(fields[19])  # ppid, start time
    except (OSError, IndexError, ValueError):
        return None

def is_ray(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"ray" in f.read()
    except OSError:
        return False

t0 = stat(me)[1]
seen = {}  # pid -> start time: Ray processes of the driver, and their descendants

def scan():
    table = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = stat(int(d))
            if st:
                table[int(d)] = st
    kids = {}
    for pid, (ppid, _) in table.items():
        kids.setdefault(ppid, []).append(pid)
    todo = [(p, False) for p in kids.get(driver, [])] + [(p, True) for p in list(seen)]
    while todo:
        pid, ours = todo.pop()
        if pid == me or pid not in table or table[pid][1] < t0:
            continue
        ours = ours or is_ray(pid)
        if ours:
            seen.setdefault(pid, table[pid][1])
        todo.extend((k, ours) for k in kids.get(pid, []) if k not in seen)

while True:
    ready, _, _ = select.select([0], [], [], 0.5)
    if ready and not os.read(0, 4096):
        break  # EOF: the driver exited or died
    scan()
scan()
for pid, start in seen.items():
    st = stat(pid)
    if st and st[1] == start:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
"""


class _Reaper:
    """A process that outlives the driver by a moment: when the driver's pipe closes (it exited,
    or was killed with SIGKILL), it kills every Ray process the driver started (polled from
    /proc while the driver lives), so a killed launcher leaves no Ray process behind."""

    def __init__(self) -> None:
        self.proc = None
        if sys.platform.startswith("linux"):
            self.proc = subprocess.Popen(
                [sys.executable, "-c", _REAPER, str(os.getpid())],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )

    def close(self) -> None:
        if self.proc is not None and self.proc.stdin is not None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass


@contextlib.contextmanager
def ray_session(address: str | None) -> Iterator[bool]:
    """Connect to Ray for one run; yields whether this run started or joined Ray itself.

    A Ray already initialised in this process (a Python caller's) is used as it is. Otherwise
    ``address`` (or ``RAY_ADDRESS``) joins that cluster, shipping ``sweep`` and ``proxy_tasks``
    with ``runtime_env.py_modules``; no address starts a local Ray with this machine's CPUs and
    GPUs, watched by a :class:`_Reaper`, and shuts it down at the end."""
    import ray

    if ray.is_initialized():
        yield False
        return
    address = address or os.environ.get("RAY_ADDRESS") or None
    common: dict[str, Any] = {
        "logging_level": logging.WARNING,
        "log_to_driver": False,
        "namespace": "sweep",
    }
    reaper = None
    try:
        if address:
            probe_address(address)
            env = {
                "py_modules": [str(p) for p in PY_MODULES],
                "excludes": ["__pycache__", "*.pyc", "*.nbi", "*.nbc"],
            }
            try:
                ray.init(address=address, runtime_env=env, **common)
            except Exception as e:  # ConnectionError, ValueError (bad format), timeouts
                first = (str(e).strip().splitlines() or [type(e).__name__])[0]
                if _auth_failure(e):
                    first = (
                        "the cluster refused this client's token (set RAY_AUTH_TOKEN or "
                        "~/.ray/auth_token to the token the cluster's nodes were started with)"
                    )
                raise SweepError(
                    f"ray backend: cannot join the Ray cluster at '{address}': {first}"
                ) from None
        else:
            reaper = _Reaper()
            with loopback_only():  # nothing outside this machine can reach it
                ray.init(
                    address="local",
                    num_cpus=os.cpu_count() or 1,
                    include_dashboard=False,
                    **common,
                )
        yield True
    finally:
        if ray.is_initialized():
            ray.shutdown()
        if reaper is not None:
            reaper.close()


def _auth_failure(e: BaseException) -> bool:
    """Whether joining a cluster failed on its token (Ray 2.60's token authentication)."""
    seen: set[int] = set()
    cause: BaseException | None = e
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        text = f"{type(cause).__name__} {cause}".lower()
        if "authenticat" in text or "unauthenticated" in text or "auth token" in text:
            return True
        cause = cause.__cause__ or cause.__context__
    return False


@contextlib.contextmanager
def loopback_only() -> Iterator[None]:
    """A local Ray started inside listens on 127.0.0.1 only.

    On Linux Ray takes the machine's outward address for a new node and its servers (GCS,
    raylet, object manager, core workers) listen on every interface; asking for 127.0.0.1
    (``_node_ip_address``) is turned back into that address. Ray's single-machine mode, the
    default on macOS and Windows (``ray_constants.ENABLE_RAY_CLUSTER`` False: a node that no
    other node may join), makes the node's address the loopback, and every server then binds
    there. That switch is read when the node starts, so it is set for ``ray.init`` only."""
    try:
        from ray._private import ray_constants
    except ImportError:  # another Ray layout: tests/test_ray_security.py says so
        yield
        return
    missing = object()
    old = getattr(ray_constants, "ENABLE_RAY_CLUSTER", missing)
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        if old is missing:
            delattr(ray_constants, "ENABLE_RAY_CLUSTER")
        else:
            ray_constants.ENABLE_RAY_CLUSTER = old


def probe_address(address: str, timeout: float = 5.0) -> None:
    """A quick TCP check of ``host:port`` (Ray itself retries an unreachable address for
    minutes); ``auto`` is left to Ray."""
    import socket

    if address == "auto":
        return
    hostport = address.split("://", 1)[-1]
    host, sep, port = hostport.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise SweepError(
            f"ray backend: address '{address}': expected auto, host:port (the "
            "head's GCS port, 6379 by default) or ray://host:10001"
        )
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as e:
        why = e.strerror or str(e) or type(e).__name__
        raise SweepError(
            f"ray backend: cannot reach the Ray cluster at '{address}': {why}; "
            "is 'ray start --head' running there?"
        ) from None


# ----------------------------------------------------------------------------- driver
def run_workers(
    plan, study, remaining: int, n_workers: int, spec, progress: bool, budget: int, max_failed: int
) -> None:
    """Run ``remaining`` trials on ``n_workers`` Ray actors (see the module docstring)."""
    import ray
    from ray.exceptions import RayActorError, RayTaskError

    from sweep import record
    from sweep.engine.backend import sampler_seed
    from sweep.engine.claims import claim_budget
    from sweep.engine.progress import Progress
    from sweep.engine.study import fail_orphans

    backend = spec.backend
    res = backend.resources(plan.profile)
    payload = {
        "plan": plan,  # the worker's config is the study's snapshot (worker_config)
        "storage": plan.storage,
        "study": plan.study,
        "profile": plan.profile,
        "device": plan.device,
        "cpus": res["cpus"],
        "scheduler": dict(backend.scheduler),
        "cache_dir": str(Path(plan.cache_dir).resolve()) if plan.cache_dir else None,
        "sampler_seed": sampler_seed(plan, 0),
        "budget": claim_budget(study, plan.phase, budget),
        "phase": plan.phase,
    }
    with ray_session(backend.address):
        _check_fits(ray, res)
        cls = ray.remote(RayWorker).options(
            num_cpus=res["cpus"], num_gpus=res["gpus"], max_restarts=0, max_task_retries=0
        )
        actors: dict[int, Any] = {}
        idents: dict[int, str] = {}
        pending: dict[Any, tuple[int, str]] = {}  # ObjectRef -> (slot, "start" | "trial")
        tickets, start_failures, stopping, checked = remaining, 0, False, 0.0

        def start(slot: int) -> None:
            actors[slot] = cls.remote(payload, slot)
            pending[actors[slot].identity.remote()] = (slot, "start")

        def retire(slot: int) -> None:
            ray.kill(actors.pop(slot), no_restart=True)
            idents.pop(slot, None)

        head = _Head(ray, plan.study)
        try:
            for i in range(n_workers):
                start(i)
            with Progress(progress, study, budget, spec, plan.phase) as bar:
                while pending:
                    ready, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
                    for ref in ready:
                        slot, kind = pending.pop(ref)
                        try:
                            value = ray.get(ref)
                        except RayActorError as e:  # died: killed, out of memory, node lost
                            if kind == "trial":
                                patient(fail_orphans, study, dead={idents.pop(slot)})
                                tickets += 1
                            else:
                                start_failures += 1
                                if start_failures >= MAX_START_FAILURES:
                                    raise SweepError(
                                        f"ray backend: the worker actor failed to "
                                        f"start {start_failures} times: "
                                        f"{_first_line(e)}"
                                    ) from None
                            actors.pop(slot, None)
                            if tickets > 0 and not stopping:
                                start(slot)
                            continue
                        except RayTaskError as e:  # outside the trial: the storage, ...
                            patient(fail_orphans, study, dead={idents[slot]})
                            retire(slot)
                            raise SweepError(
                                f"ray backend: a worker failed outside a trial: {_first_line(e)}"
                            ) from None
                        if kind == "start":
                            idents[slot], start_failures = value, 0
                        elif value in ("lost", "failed"):  # nothing ran, or it is retried
                            tickets += 1
                        stopping = stopping or bool(patient(_stop_asked, study))
                        if value == "done":  # the study's budget is spent (by any driver)
                            retire(slot)
                        elif tickets > 0 and not stopping:
                            tickets -= 1
                            pending[actors[slot].run_one.remote()] = (slot, "trial")
                        else:
                            retire(slot)
                    if time.monotonic() - checked >= 0.5:  # as often as the local backend
                        checked = time.monotonic()
                        head.check()
                        patient(bar.update)
                        if patient(_too_many_failures, study, max_failed):  # drain
                            patient(study.set_user_attr, record.STUDY_STOP, True)
        finally:
            for slot in list(actors):  # an interrupted run: no trial left RUNNING
                if head.lost:  # (no GCS to ask: the worker hosts end them with their node)
                    break
                with contextlib.suppress(Exception):
                    ray.kill(actors.pop(slot), no_restart=True)
            if idents:
                with contextlib.suppress(Exception):
                    patient(fail_orphans, study, dead=set(idents.values()))


class _Head:
    """Watches the Ray head (its GCS port) from the driver: a head that refuses or ignores a
    TCP connection for :data:`HEAD_PATIENCE_S` is lost, and :meth:`check` says so on one line
    (:class:`SweepError`) while the driver can still speak; Ray ends a driver whose GCS is
    gone only after a minute, with a fatal log of many lines."""

    def __init__(self, ray, study: str) -> None:
        self.lost, self.study = False, study
        try:
            host, _, port = ray.get_runtime_context().gcs_address.rpartition(":")
            self.target: tuple[str, int] | None = (host.strip("[]"), int(port))
        except Exception:  # (another Ray layout: nothing to watch)
            self.target = None
        self.seen = time.monotonic()

    def check(self) -> None:
        import socket

        if self.target is None:
            return
        try:
            socket.create_connection(self.target, timeout=1.0).close()
            self.seen = time.monotonic()
            return
        except OSError as e:
            why = e.strerror or str(e) or type(e).__name__
        if time.monotonic() - self.seen < HEAD_PATIENCE_S:
            return
        self.lost = True
        raise SweepError(
            f"ray backend: lost the Ray head at {self.target[0]}:{self.target[1]} ({why} "
            f"for {HEAD_PATIENCE_S:g} s): its running trials are failed; start a head, join "
            f"the workers to it and run 'sweep resume {self.study} --address NEW_HEAD:6379'"
        )


def _stop_asked(study) -> bool:
    from sweep import record

    return bool(study.user_attrs.get(record.STUDY_STOP))


def _too_many_failures(study, max_failed: int) -> bool:
    from sweep.engine.study import counts, retried

    return counts(study)["FAIL"] >= max_failed + retried(study)


def _check_fits(ray, res: dict[str, float]) -> None:
    """A trial's resources must fit on one node, or its actor would wait forever."""
    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    if any(n.get("CPU", 0) >= res["cpus"] and n.get("GPU", 0) >= res["gpus"] for n in nodes):
        return
    have = ", ".join(f"{n.get('CPU', 0):g} CPUs/{n.get('GPU', 0):g} GPUs" for n in nodes)
    raise SweepError(
        f"ray backend: no node of the Ray cluster can hold a trial's resources "
        f"({res['cpus']:g} CPUs, {res['gpus']:g} GPUs; nodes: {have or 'none'}); "
        "lower backend.resources, or --profile cpu without GPUs"
    )


def _first_line(e: BaseException) -> str:
    from sweep.storage import mask_url

    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    # Ray wraps the cause: its last line is the most telling ("ValueError: ...").
    return mask_url(lines[-1] if lines else type(e).__name__)
