"""Study storages: URLs and paths, SQLite (WAL, busy timeout), journal files, PostgreSQL.

A storage is named by a URL ``sqlite:///path.db``, ``postgresql+psycopg://user:password@host/db``
or ``journal:///path.log`` (our scheme for an Optuna journal file), or by a bare path:
``*.db``/``*.sqlite``/``*.sqlite3`` is a SQLite file, ``*.log``/``*.jsonl``/``*.journal`` a journal
file. Relative paths are resolved against the current directory. The default is the SQLite file
``./runs/studies.db`` (:func:`default_storage`). Passwords are never printed (:func:`mask_url`).

SQLite suits a few workers on one machine (WAL mode, 60 s busy timeout); a journal file suits many
workers on one machine; PostgreSQL suits several machines. :class:`PopLock` makes popping an
enqueued trial atomic on SQLite.

Imports: the standard library, :mod:`sweep.errors` and :mod:`sweep.registry`; Optuna and
SQLAlchemy lazily.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sweep.errors import SweepError, did_you_mean
from sweep.registry import Registry

SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
JOURNAL_SUFFIXES = (".log", ".jsonl", ".journal")
NETWORK_FS = (
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "smbfs",
    "fuse.sshfs",
    "lustre",
    "gpfs",
    "ceph",
    "glusterfs",
    "fuse.glusterfs",
    "9p",
    "afs",
    "beegfs",
)


@dataclass(frozen=True)
class StorageKind:
    """One kind of study storage: how its URLs look and what it offers.

    ``example`` is a URL with ``{dir}`` standing for a directory (file storages) or None for a
    server storage, whose URL the user (or the test suite: ``SWEEP_TEST_POSTGRES``) gives.
    ``heartbeat``: Optuna heartbeats (a dead worker's trial is failed by the storage itself);
    ``atomic_pop``: two workers never pop the same enqueued trial (SQLite needs :class:`PopLock`).
    """

    name: str
    prefix: str
    example: str | None
    heartbeat: bool
    atomic_pop: bool
    shared: str  # who can share it: this machine, or several machines


#: every storage kind sweep supports; the conformance tests run over all of them
STORAGE_KINDS: Registry[StorageKind] = Registry("storage kind")
STORAGE_KINDS.register(
    "sqlite",
    StorageKind(
        "sqlite",
        "sqlite:///",
        "sqlite:///{dir}/studies.db",
        heartbeat=True,
        atomic_pop=False,
        shared="a few workers on one machine",
    ),
)
STORAGE_KINDS.register(
    "journal",
    StorageKind(
        "journal",
        "journal://",
        "journal:///{dir}/studies.log",
        heartbeat=False,
        atomic_pop=True,
        shared="many workers on one machine",
    ),
)
STORAGE_KINDS.register(
    "postgresql",
    StorageKind(
        "postgresql",
        "postgresql",
        None,
        heartbeat=True,
        atomic_pop=True,
        shared="workers on several machines",
    ),
)


def storage_kind(url: str) -> StorageKind:
    """The kind of a storage URL or path (anything :func:`normalize_storage` takes)."""
    url = normalize_storage(url)
    for name in STORAGE_KINDS.names():
        kind = STORAGE_KINDS.get(name)
        if url.startswith(kind.prefix):
            return kind
    raise SweepError(f"storage '{mask_url(url)}': no storage kind matches")  # unreachable


#: the environment variable that names the default storage: the way to keep a database password
#: out of study files and command lines (or leave the password out and let ~/.pgpass give it)
STORAGE_ENV = "SWEEP_STORAGE"


def default_storage(study: str = "") -> str:
    """The default storage: ``$SWEEP_STORAGE`` when set, else the SQLite file
    ``runs/studies.db`` under the current directory, holding every study by name (``study`` is
    accepted for future per-study layouts)."""
    if env := os.environ.get(STORAGE_ENV, "").strip():
        return normalize_storage(env, label=STORAGE_ENV)
    return f"sqlite:///{(Path.cwd() / 'runs' / 'studies.db').resolve()}"


_URL_PASSWORD = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://[^\s:/@'\"]+:)[^\s@'\"]+(?=@)")


def mask_text(text: str) -> str:
    """``text`` (a study file, say) with the password of every URL in it, and every
    ``password=...``, replaced by ``***``: what is stored on a study never holds a secret."""
    text = _URL_PASSWORD.sub(lambda m: m.group(1) + "***", str(text))
    return re.sub(r"(?i)\b((?:password|passwd|pwd)=)[^&;\s'\"]*", r"\1***", text)


def mask_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (user:password@ and password= forms)."""
    s = str(url)
    scheme, sep, rest = s.partition("://")
    if sep:
        at = rest.rfind("@")
        if at >= 0 and ":" in rest[:at]:
            user = rest[:at].split(":", 1)[0]
            rest = f"{user}:***{rest[at:]}"
        s = f"{scheme}://{rest}"
    return re.sub(r"(?i)\b((?:password|passwd|pwd)=)[^&;\s]*", r"\1***", s)


def normalize_storage(value: Any, label: str = "storage") -> str:
    """A storage URL or path -> a canonical URL (absolute paths); SweepError ``label: ...``."""
    kinds = "a URL (sqlite:///x.db, postgresql+psycopg://user@host/db, journal:///x.log) or a path"
    if not isinstance(value, str) or not value.strip():
        raise SweepError(key=label, message=f"expected {kinds}, got {value!r}")
    v = value.strip()
    shown = mask_url(v)
    scheme, sep, rest = v.partition("://")
    if not sep and (m := re.match(r"^([A-Za-z][A-Za-z0-9+.-]+):", v)):
        # sqlite:/x.db or journal:x.log: a URL missing its slashes, not a file named "sqlite:"
        s = m.group(1).lower()
        example = {"sqlite": "sqlite:///path/to/file.db", "journal": "journal:///path/to/file.log"}
        fix = example.get(s.split("+")[0], "scheme://...")
        raise SweepError(
            key=label,
            message=f"'{shown}' is not a valid URL: write {fix} (a "
            "scheme, '://', then the path or host)",
        )
    if not sep:
        path = _abs_path(v)
        if path.suffix in SQLITE_SUFFIXES:
            return _file_url("sqlite:///", path, shown, label)
        if path.suffix in JOURNAL_SUFFIXES:
            return _file_url("journal://", path, shown, label)
        raise SweepError(
            key=label,
            message=f"cannot tell the storage kind of '{shown}': name a "
            f"SQLite file {'/'.join(SQLITE_SUFFIXES)}, a journal file "
            f"{'/'.join(JOURNAL_SUFFIXES)}, or give a URL",
        )
    s = scheme.lower()
    if s == "sqlite":
        if not rest.startswith("/") or rest[1:] in ("", ":memory:") or rest.startswith("/?"):
            why = "three slashes before the path"
            if rest.startswith("/") or not rest:
                why = "an in-memory database cannot be shared by worker processes"
            raise SweepError(
                key=label, message=f"'{shown}': write sqlite:///path/to/file.db ({why})"
            )
        return _file_url("sqlite:///", _abs_path(rest[1:]), shown, label)
    if s == "journal":
        if not rest:
            raise SweepError(key=label, message=f"'{shown}': write journal:///path/to/file.log")
        return _file_url("journal://", _abs_path(rest), shown, label)
    if s == "postgresql" or s.startswith("postgresql+"):
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            url = make_url(v)
            _ = url.port  # a non-numeric port raises here
        except (ArgumentError, ValueError):
            raise SweepError(
                key=label,
                message=f"'{shown}' is not a valid PostgreSQL URL; write "
                "postgresql+psycopg://user:password@host:5432/dbname",
            ) from None
        if not url.host or not url.database:
            raise SweepError(
                key=label,
                message=f"'{shown}': name the host and the database, e.g. "
                "postgresql+psycopg://user:password@host:5432/dbname",
            )
        return v
    if s.split("+")[0] in ("mysql", "mariadb", "oracle", "mssql"):
        raise SweepError(
            key=label, message=f"'{shown}': {s.split('+')[0]} is not supported; use {kinds}"
        )
    hint = did_you_mean(s, ("sqlite", "postgresql", "journal"))
    raise SweepError(
        key=label, message=f"'{shown}': unsupported storage scheme '{scheme}'{hint}; use {kinds}"
    )


def _abs_path(text: str) -> Path:
    p = Path(text).expanduser()
    return p if p.is_absolute() else (Path.cwd() / p).resolve()


def _file_url(prefix: str, path: Path, shown: str, label: str) -> str:
    if path.is_dir():
        raise SweepError(key=label, message=f"'{shown}' is a directory; name a file inside it")
    return f"{prefix}{path}"


def make_storage(url: str, *, heartbeat: bool = True, create: bool = True):
    """An Optuna storage for ``url`` (anything :func:`normalize_storage` takes).

    SQLite: WAL journal mode set once on the file (not on a network filesystem), a 60 s busy
    timeout. SQLite and PostgreSQL: with ``heartbeat``, a 10 s heartbeat, 30 s grace period and
    one retry of a trial whose worker died (``RetryHeartbeatStaleTrialCallback``). Journal files
    have no heartbeat (a resume must fail stale RUNNING trials itself), and a journal record cut
    by a kill or a full disk is repaired before the file is opened (:mod:`sweep.journal`).
    Without ``create`` (the commands that only read a study), a storage file that does not exist
    is an error and nothing is created. Processes opening one new database at once (a
    launcher's workers, two launchers) all succeed: on PostgreSQL the tables are created under
    an advisory lock (:func:`_create_serialized`), and an open that lost the race to create
    them (SQLite, or a process that takes no lock) is retried.
    """
    import optuna

    url = normalize_storage(url)
    shown = mask_url(url)
    if not create:
        require_existing(url)
    if url.startswith("journal://"):
        from optuna.storages.journal import JournalFileBackend

        from sweep.journal import repair_journal

        path = Path(url[len("journal://") :])
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if note := repair_journal(path):
                print(f"sweep: warning: {note}", file=sys.stderr)
            return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
        except OSError as e:
            raise SweepError(f"storage {shown}: cannot open the journal file: {e}") from None
    kwargs: dict[str, Any] = {}
    if heartbeat:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            retry = optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1)
        kwargs = {
            "heartbeat_interval": 10,
            "grace_period": 30,
            "heartbeat_stale_trial_callback": retry,
        }
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///") :])
        if not create and not _writable(path):
            return _read_only_sqlite(path, shown)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _enable_wal(path)
        except (OSError, __import__("sqlite3").Error) as e:
            raise SweepError(f"storage {shown}: cannot open the SQLite file: {e}") from None
        engine_kwargs: dict[str, Any] = {"connect_args": {"timeout": 60}}
    else:
        engine_kwargs = {"pool_pre_ping": True}

    def open_rdb():
        with warnings.catch_warnings():  # heartbeat arguments are "experimental" in Optuna 5.0
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs, **kwargs)

    try:
        for attempt in range(CREATE_RACE_RETRIES + 1):
            try:
                if url.startswith("postgresql"):
                    return _create_serialized(url, shown, open_rdb)
                return open_rdb()
            except Exception as e:
                if attempt == CREATE_RACE_RETRIES or not _is_creation_race(e):
                    raise
                # another process created the tables at the same moment (a SQLite file opened
                # at once outside the launcher's pop lock; a process that takes no lock:
                # plain Optuna, optuna-dashboard, an older sweep): they exist now or soon
                time.sleep((0.1 + 0.2 * _jitter()) * 2**attempt)
        raise AssertionError("unreachable")
    except SweepError:
        raise
    except Exception as e:  # driver missing, unreachable server, bad credentials, ...
        first = (str(e).strip().splitlines() or [""])[0]
        msg = mask_url(first).replace(url, shown)
        if isinstance(e, ImportError):
            msg = "the database driver is missing (PostgreSQL: pip install 'psycopg[binary]')"
        raise SweepError(f"storage {shown}: cannot open: {type(e).__name__}: {msg}") from None


#: how many times opening a storage is retried after it lost a race to create the tables
CREATE_RACE_RETRIES = 3
#: the PostgreSQL advisory lock (one per database) that serializes the creation of Optuna's
#: tables by sweep processes: "sweep" in ASCII, a key no other application is likely to use
PG_CREATE_LOCK_KEY = 0x7377656570
#: how long a process waits for another one to finish creating the tables
PG_CREATE_LOCK_TIMEOUT_S = 120


def _create_serialized(url: str, shown: str, open_rdb: Callable[[], Any]) -> Any:
    """``open_rdb()`` (an Optuna ``RDBStorage`` on PostgreSQL) such that processes opening one
    fresh database at once do not race to create its tables.

    ``RDBStorage`` creates its tables when it is constructed: ``metadata.create_all`` looks for
    each enum type and table and then creates the missing ones in one transaction, then it
    inserts the ``version_info`` row and stamps ``alembic_version``. Two processes that both
    look before either commits both create: one fails (``UniqueViolation`` on ``pg_type``,
    ``relation "studies" already exists``, a duplicate ``version_info`` key). Here a database
    whose schema is complete (``alembic_version`` has its row, written last) is opened at
    once; otherwise the construction runs under a session advisory lock on a connection of its
    own, so the first process creates everything and the others find it done.
    """
    import sqlalchemy as sa

    engine = sa.create_engine(url, poolclass=sa.pool.NullPool, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as con:
            if not _pg_schema_complete(con):
                con.execute(sa.text(f"SET lock_timeout = '{PG_CREATE_LOCK_TIMEOUT_S}s'"))
                try:
                    con.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": PG_CREATE_LOCK_KEY})
                except sa.exc.OperationalError as e:
                    if getattr(e.orig, "sqlstate", None) != "55P03":  # lock_not_available
                        raise
                    raise SweepError(
                        f"storage {shown}: waited {PG_CREATE_LOCK_TIMEOUT_S} s for "
                        "another process to create the study tables (PostgreSQL "
                        f"advisory lock {PG_CREATE_LOCK_KEY}); see pg_locks on the "
                        "server for the session that holds it"
                    ) from None
                try:
                    return open_rdb()
                finally:  # a broken connection cannot unlock: closing it releases the lock
                    with contextlib.suppress(Exception):
                        unlock = sa.text("SELECT pg_advisory_unlock(:k)")
                        con.execute(unlock, {"k": PG_CREATE_LOCK_KEY})
        return open_rdb()  # the tables are there: nothing to create, no lock
    finally:
        engine.dispose()


def _pg_schema_complete(con: Any) -> bool:
    """Whether Optuna's tables exist in ``con``'s schema (``search_path``), stamped by alembic."""
    import sqlalchemy as sa

    if con.execute(sa.text("SELECT to_regclass('alembic_version')")).scalar() is None:
        return False
    return con.execute(sa.text("SELECT 1 FROM alembic_version LIMIT 1")).first() is not None


def _is_creation_race(e: BaseException) -> bool:
    """Whether ``e`` is what creating Optuna's tables beside another process raises: an
    object that already exists, a unique key (``pg_type``, ``version_info``) already taken."""
    seen: set[int] = set()
    cause: BaseException | None = e
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        names = {c.__name__ for c in type(cause).__mro__}
        text = str(cause).lower()
        if names & {"UniqueViolation", "DuplicateTable", "DuplicateObject"}:
            return True
        if names & {"IntegrityError", "ProgrammingError", "OperationalError"} and (
            "already exists" in text or "duplicate key" in text or "unique constraint" in text
        ):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def _jitter() -> float:
    """A fraction in [0, 1) that differs between processes (from the pid and the clock), so
    that processes retrying together do not retry in step; no global random generator."""
    return ((os.getpid() * 2654435761 + time.monotonic_ns()) % 1000) / 1000


def require_existing(url: str) -> None:
    """A file storage that does not exist: a one-line error (read-only commands create none)."""
    url = normalize_storage(url)
    for prefix in ("sqlite:///", "journal://"):
        if url.startswith(prefix) and not Path(url[len(prefix) :]).is_file():
            raise SweepError(
                f"no storage at {mask_url(url)} (nothing was created); "
                "'sweep launch FILE' creates one; or name another with "
                "--storage"
            )


def _writable(path: Path) -> bool:
    """Whether a SQLite file and its directory (its -wal and -shm files) can be written: not on
    a read-only filesystem, nor a file or directory without write permission."""
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)


def _read_only_sqlite(path: Path, shown: str):
    """A SQLite study file that cannot be written (a read-only filesystem, an archive), opened
    as an immutable snapshot so the read-only commands can read it: no WAL, no heartbeat, no
    lock, nothing written (SQLite's ``immutable=1``)."""
    import sqlite3
    from urllib.parse import quote

    import optuna

    wal = path.with_name(path.name + "-wal")
    if wal.is_file() and wal.stat().st_size > 0:  # writes an immutable reader would not see
        raise SweepError(
            f"storage {shown} is read-only and its {wal.name} holds writes not yet "
            "in the database; copy the .db and its -wal and -shm files to a "
            "writable place and read that copy"
        )
    uri = f"file:{quote(str(path))}?immutable=1"

    def connect():
        return sqlite3.connect(uri, uri=True, check_same_thread=False)

    try:
        return optuna.storages.RDBStorage("sqlite://", engine_kwargs={"creator": connect})
    except Exception as e:
        first = (str(e).strip().splitlines() or [""])[0]
        raise SweepError(
            f"storage {shown} (read-only): cannot open: {type(e).__name__}: {first}"
        ) from None


def _enable_wal(path: Path) -> None:
    import sqlite3

    if _on_network_fs(path):
        return  # WAL needs shared memory that network filesystems do not provide
    deadline = time.monotonic() + 60
    while True:
        con = sqlite3.connect(str(path), timeout=60)
        try:
            mode = con.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() != "wal":
                con.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            # processes switching a new file to WAL at once: "database is locked" at once,
            # without the busy timeout's wait
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
        finally:
            con.close()
        time.sleep(0.05 + 0.1 * _jitter())


def _on_network_fs(path: Path) -> bool:
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return False
    target, best, fstype = str(path.resolve()), "", ""
    for line in mounts:
        parts = line.split()
        if len(parts) < 3:
            continue
        mnt = parts[1].replace("\\040", " ")
        inside = target == mnt or target.startswith(mnt.rstrip("/") + "/")
        if inside and len(mnt) > len(best):
            best, fstype = mnt, parts[2]
    return fstype in NETWORK_FS


class PopLock:
    """SQLite cannot pop an enqueued (WAITING) trial atomically: two workers may both take it
    and run it twice (optuna issue 4002; enqueued trials are retries and sweep calibrate's
    cells). A local worker of a SQLite storage holds this file lock (``<db>.pop-lock``) from
    before ``ask`` until its objective starts, when the trial is RUNNING. Other storages pop
    atomically: a no-op."""

    def __init__(self, url: str) -> None:
        self.fh = None
        if url.startswith("sqlite:///"):
            try:
                import fcntl

                self.fh = open(url[len("sqlite:///") :] + ".pop-lock", "a")
                fcntl.flock(self.fh, fcntl.LOCK_EX)
            except (ImportError, OSError):
                self.release()

    def release(self) -> None:
        if self.fh is not None:
            self.fh.close()  # closing the file drops the lock
            self.fh = None

    def released(self, objective):
        def run(trial):
            self.release()
            return objective(trial)

        return run

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def describe_failure(e: BaseException) -> str | None:
    """One line for a storage failure that reached a command (a damaged database file, a
    journal that is not JSON, a full disk), or None when ``e`` is something else. Optuna
    wraps database errors (``StorageInternalError``): their causes are looked at too."""
    seen: set[int] = set()
    cause: BaseException | None = e
    while cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        if (why := _describe_one(cause)) is not None:
            return why
        cause = cause.__cause__ or cause.__context__
    return None


def _describe_one(e: BaseException) -> str | None:
    import errno
    import json

    names = {c.__name__ for c in type(e).__mro__}
    module = type(e).__module__
    first = (str(e).strip().splitlines() or [type(e).__name__])[0]
    first = mask_url(first)[:300]
    if isinstance(e, OSError) and e.errno == errno.ENOSPC:
        return (
            f"the disk is full ({first}); completed trials are kept: free space and run "
            "'sweep resume STUDY' to go on"
        )
    if "DatabaseError" in names and (module.startswith(("sqlalchemy", "sqlite3"))):
        if "disk is full" in first or "database or disk is full" in first:
            return (
                f"the disk is full ({first}); completed trials are kept: free space and "
                "run 'sweep resume STUDY' to go on"
            )
        orig = getattr(e, "orig", None)  # SQLAlchemy's wrapper: the driver's own error
        if module.startswith("sqlite3") or type(orig).__module__.startswith("sqlite3"):
            return (
                f"the study database is damaged ({type(e).__name__}: {first}); restore a copy, "
                "or salvage it with: sqlite3 FILE '.recover' | sqlite3 NEW.db"
            )
        # A database server (PostgreSQL, MySQL) that went away or refused: nothing is damaged.
        return (
            f"the study database could not be reached or refused a write ({type(e).__name__}: "
            f"{first}); completed trials are kept: when it is back, run 'sweep resume STUDY' "
            "to go on"
        )
    if isinstance(e, json.JSONDecodeError) or (
        isinstance(e, ValueError) and "Invalid log format" in str(e)
    ):
        return (
            f"the journal file is damaged ({first}) in a way sweep cannot repair; restore a copy"
        )
    return None
