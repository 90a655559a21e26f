"""What launchers claim in a study's storage: the search budget's tickets, the confirmation,
and their own presence. Any number of launchers, hosts and resumes may share one study.

* **tickets**: each trial, as it starts, claims a ticket of the search budget
  (:func:`sweep.record.claim_holds`, the rule, applied by :mod:`sweep.engine.objective`);
  :func:`tickets_held` and :func:`open_tickets` read them, :func:`claim_budget` is the budget a
  worker's trials claim against. SQLite cannot pop an enqueued trial atomically: a local
  worker holds :class:`sweep.storage.PopLock` while it does.
* **the confirmation**: one launcher at a time runs it and stores the answer. It holds
  :class:`ConfirmClaim`, a lock kept by the storage's own server or file (a PostgreSQL advisory
  lock, MySQL's ``GET_LOCK``, an ``flock`` beside a SQLite or journal file), released when the
  holder ends, however it ends. A launcher that finds it held leaves the confirmation and the
  answer to its holder, and says so.
* **launchers**: each launch registers itself (``sweep:launcher:<host>:<pid>``: its start, the
  end of its share of the search, its end); a launch that finds another live launcher
  registered before it says that it joins its budget (:func:`joined`), and one that finishes
  its search while another still searches leaves the confirmation to the last
  (:func:`searching_elsewhere`).

Imports: the standard library, :mod:`sweep.record`; SQLAlchemy lazily.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import time
from typing import Any

from sweep import record

#: the prefix of a launcher's study attribute (``sweep:launcher:<host>:<pid>``)
LAUNCHER_PREFIX = "sweep:launcher:"


# ----------------------------------------------------------------------------- tickets
def tickets_held(study) -> int:
    """Tickets of the search budget held in the storage: trials that ran, run or wait to run,
    one per lineage (:func:`sweep.record.tickets_held`)."""
    return record.tickets_held(study.get_trials(deepcopy=False))


def open_tickets(study, budget: int, phase: str = "search") -> int:
    """How many trials a worker may still start: the search budget's unclaimed tickets
    (``search`` phase only) plus the WAITING trials (retries, arms, confirmation cells), which
    ``ask`` pops first. Read before asking Optuna for a trial, so that a worker does not create
    a trial only to give its ticket back (:func:`sweep.record.claim_holds` decides, atomically)."""
    trials = study.get_trials(deepcopy=False)
    waiting = sum(t.state.name == "WAITING" for t in trials)
    free = max(0, budget - record.tickets_held(trials)) if phase == "search" else 0
    return free + waiting


def claim_budget(study, phase: str, budget: int) -> int:
    """The search budget a worker's trials claim tickets of: the launcher's in the search phase;
    in the confirmation the study's stored one (a confirmation round runs enqueued cells only:
    a search trial it creates by accident claims against the study's budget, and loses)."""
    if phase == "search":
        return int(budget)
    return int((study.user_attrs.get(record.STUDY_BUDGET) or {}).get(record.BUDGET_TRIALS, 0))


# ----------------------------------------------------------------------------- the confirmation
class ConfirmClaim:
    """The exclusive right to run study ``study``'s confirmation and store its answer, held in
    the storage (see the module docstring); ``held`` says whether this launcher has it. Never
    waits: a second launcher leaves the work to the holder."""

    def __init__(self, url: str, study: str) -> None:
        self.held = False
        self._fh: Any = None
        self._conn: Any = None
        name = f"sweep:{study}:confirm"
        for prefix in ("sqlite:///", "journal://"):
            if url.startswith(prefix):
                self._file(url[len(prefix) :] + f".{_digest(name)[:12]}.confirm-lock")
                return
        if url.startswith(("postgresql", "mysql")):  # (a server's locks span its schemas:
            self._server(url, f"{url}|{name}")  # the URL, with its search_path, is in the key)
        else:  # an in-memory storage: one process
            self.held = True

    def _file(self, path: str) -> None:
        try:
            import fcntl
        except ImportError:  # no flock (Windows): one launcher per study there
            self.held = True
            return
        self._fh = open(path, "a")
        try:
            fcntl.flock(self._fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self.held = True
        except OSError:
            self.release()

    def _server(self, url: str, name: str) -> None:
        import sqlalchemy
        from sqlalchemy.pool import NullPool

        engine = sqlalchemy.create_engine(url, poolclass=NullPool)
        self._conn = engine.connect()
        args: dict[str, Any]
        if url.startswith("postgresql"):  # a session lock: gone with the connection
            key = int.from_bytes(bytes.fromhex(_digest(name)[:16]), "big", signed=True)
            sql, args = "SELECT pg_try_advisory_lock(:k)", {"k": key}
        else:
            sql, args = "SELECT GET_LOCK(:k, 0)", {"k": _digest(name)[:60]}
        self.held = bool(self._conn.execute(sqlalchemy.text(sql), args).scalar())
        if not self.held:
            self.release()

    def release(self) -> None:
        """Drop the claim (closing the file or the connection drops the lock)."""
        for h in (self._fh, self._conn):
            if h is not None:
                with contextlib.suppress(Exception):
                    h.close()
        self._fh = self._conn = None

    def __enter__(self) -> ConfirmClaim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# ----------------------------------------------------------------------------- launchers
def register_launcher(study) -> str:
    """Record this launcher on the study; returns its attribute key (for :func:`unregister`)."""
    key = f"{LAUNCHER_PREFIX}{socket.gethostname()}:{os.getpid()}"
    study.set_user_attr(key, {"started": time.time(), "ended": None})
    return key


def unregister(study, key: str) -> None:
    with contextlib.suppress(Exception):  # a storage gone at exit: the launcher is gone too
        study.set_user_attr(key, {**(study.user_attrs.get(key) or {}), "ended": time.time()})


def searched(study, key: str) -> None:
    """Record that this launcher's share of the search is done (it may confirm now)."""
    study.set_user_attr(key, {**(study.user_attrs.get(key) or {}), "searched": time.time()})


def searching_elsewhere(study, key: str) -> bool:
    """Whether another live launcher of the study is still searching: the last one to finish
    its search confirms (so that the confirmation chooses from the whole search)."""
    return any("searched" not in v for _, v in _live_others(study, key))


def _live_others(study, key: str) -> list[tuple[str, dict]]:
    """The other launchers of the study that have not ended (and, on this host, whose process
    is alive): ``(key, record)`` pairs."""
    from sweep.engine.study import alive

    host = socket.gethostname()
    out = []
    for other, value in study.user_attrs.items():
        if not other.startswith(LAUNCHER_PREFIX) or other == key or not isinstance(value, dict):
            continue
        if value.get("ended") is not None:
            continue
        where, _, pid = other[len(LAUNCHER_PREFIX) :].rpartition(":")
        if where == host and not (pid.isdigit() and alive(int(pid))):
            continue
        out.append((other, value))
    return out


def joined(study, key: str) -> bool:
    """Whether another live launcher registered on the study before this one (``key``): this
    launch joins its budget. A launcher on this host is live while its process is; one on
    another host while it has not recorded its end."""
    mine = (study.user_attrs.get(key) or {}).get("started", time.time())
    for other, value in _live_others(study, key):
        started = value.get("started") or 0
        if started < mine or (started == mine and other < key):
            return True  # (the same instant: the smaller key was first)
    return False
