"""A cluster of real hosts on one machine: Linux network namespaces joined by a bridge.

Used by ``tests/test_cluster.py`` and ``benchmarks/cluster.py`` (one copy of the code). Every
host is a network namespace of its own (``swc-<run>-<role>``), with its own address on a private
subnet, its own hostname (each command runs under ``unshare --uts`` + ``hostname``, so
``socket.gethostname()`` names the host), its own HOME and Ray temp dir; the hosts' links meet
on a bridge that lives in a namespace of its own (``swc-<run>-sw``), so no interface, address or
route is added to the machine's own namespace and no packet leaves the namespaces. A host's link
can be cut (:meth:`NetCluster.cut`) and every process of a host killed (:meth:`Host.kill_all`:
the processes in its namespace, whatever their parents).

Roles: ``head`` (Ray head), ``w1``/``w2`` (Ray workers), ``db`` (a PostgreSQL server of its own,
initialised in a temp dir as the ``postgres`` user, listening on the db host's address only),
``client`` (where ``sweep`` runs). Worker hosts run with the repository's ``sweep`` and
``proxy_tasks`` hidden (an empty tmpfs mounted over them in the host's own mount namespace), so
a trial there can only run the code the launcher shipped with ``runtime_env``.

Needs root, ``ip``, ``unshare`` and PostgreSQL's server binaries; :func:`unavailable` says why
not. :func:`reap_stale` removes the namespaces of runs whose process is gone.
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

PREFIX = "swc"
CLONE_NEWNET = 0x40000000
SUBNET = "10.77.0"  # private, and inside the namespaces only
ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
RAY = str(BIN / "ray")
ROLES = {"head": 2, "w1": 3, "w2": 4, "db": 5, "client": 6}
#: Ray node flags for a 2-core machine: small object store, no dashboard
RAY_SMALL = ["--object-store-memory=80000000", "--disable-usage-stats"]
#: how fast the GCS declares a silent node dead (default: about 15-30 s)
HEALTH = {
    "RAY_health_check_initial_delay_ms": "1000",
    "RAY_health_check_period_ms": "1000",
    "RAY_health_check_timeout_ms": "1000",
    "RAY_health_check_failure_threshold": "3",
}


def _run(*argv: str, check: bool = True, timeout: float = 60, **kw) -> subprocess.CompletedProcess:
    res = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, **kw)
    if check and res.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: rc {res.returncode}: {res.stderr.strip()[-2000:]}")
    return res


def pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def unavailable() -> str | None:
    """Why a cluster cannot be built here (None: it can)."""
    if not sys.platform.startswith("linux"):
        return "network namespaces need Linux"
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool in ("ip", "unshare", "runuser", "hostname", "mount"):
        if shutil.which(tool) is None:
            return f"'{tool}' is not installed"
    if pg_bin() is None:
        return "no PostgreSQL server under /usr/lib/postgresql/*/bin"
    if not Path(RAY).exists():
        return f"no ray executable at {RAY}"
    probe = f"{PREFIX}-probe{os.getpid()}"
    res = _run("ip", "netns", "add", probe, check=False)
    if res.returncode != 0:
        return f"cannot create a network namespace: {res.stderr.strip()}"
    _run("ip", "netns", "del", probe, check=False)
    return None


def _ns_pids(ns: str) -> list[int]:
    res = _run("ip", "netns", "pids", ns, check=False)
    return [int(p) for p in res.stdout.split() if p.isdigit()]


def _kill_ns(ns: str, timeout: float = 15.0) -> list[int]:
    """SIGKILL every process in namespace ``ns`` until none is left; returns those left."""
    deadline = time.time() + timeout
    while (pids := _ns_pids(ns)) and time.time() < deadline:
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
    return _ns_pids(ns)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def reap_stale() -> list[str]:
    """Delete the namespaces (and their processes) of earlier runs whose process is gone (a
    run killed before its teardown); returns their names."""
    res = _run("ip", "netns", "list", check=False)
    gone = []
    for line in res.stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        parts = name.split("-")
        if len(parts) < 4 or parts[0] != PREFIX or not parts[1].isdigit():
            continue
        if _alive(int(parts[1])):
            continue
        _kill_ns(name)
        _run("ip", "netns", "del", name, check=False)
        gone.append(name)
    return gone


class Host:
    """One host: a network namespace, an address, a hostname, a HOME and a temp dir."""

    def __init__(self, cluster: NetCluster, role: str) -> None:
        self.cluster, self.role = cluster, role
        self.ns = f"{cluster.tag}-{role}"
        self.ip = f"{SUBNET}.{ROLES[role]}"
        self.hostname = f"{role}-{cluster.short}"
        self.dir = cluster.dir / role
        self.home = self.dir / "home"
        self.home.mkdir(parents=True)
        self.hide_code = role in ("w1", "w2")
        self.ray_tmp = Path(tempfile.mkdtemp(prefix=f"r{role}", dir=cluster.dir))

    def env(self, **extra: str) -> dict[str, str]:
        """The host's environment: its HOME, the cluster's Ray token, nothing of the test's
        Ray settings."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("RAY_", "SWEEP_STORAGE", "PYTEST", "COV_"))
        }
        env.update(
            HOME=str(self.home),
            RAY_AUTH_MODE="token",
            RAY_AUTH_TOKEN=self.cluster.token,
            PATH=f"{BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            COLUMNS="300",
            PYTHONUNBUFFERED="1",
        )
        env.update(extra)
        return env

    def argv(self, argv: list[str]) -> list[str]:
        """``argv`` as a command on this host: in its namespace, under its hostname (and on a
        worker host with the repository's code hidden)."""
        script = 'hostname "$0" || exit 97; '
        flags = ["--uts"]
        if self.hide_code:
            flags.append("--mount")
            for sub in ("sweep", "proxy_tasks"):
                script += f"mount -t tmpfs -o size=1m,ro none {ROOT / sub} || exit 98; "
        script += 'exec "$@"'
        return [
            "ip",
            "netns",
            "exec",
            self.ns,
            "unshare",
            *flags,
            "sh",
            "-c",
            script,
            self.hostname,
            *argv,
        ]

    def run(self, argv: list[str], *, timeout: float = 120, env=None, cwd=None, check=False):
        res = subprocess.run(
            self.argv(argv),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env or self.env(),
            cwd=cwd or self.dir,
            stdin=subprocess.DEVNULL,
        )
        if check and res.returncode != 0:
            raise RuntimeError(
                f"{self.role}: {' '.join(argv)}: rc {res.returncode}: "
                f"{(res.stdout + res.stderr)[-3000:]}"
            )
        return res

    def popen(self, argv: list[str], *, env=None, cwd=None, **kw) -> subprocess.Popen:
        kw.setdefault("stdout", subprocess.PIPE)
        kw.setdefault("stderr", subprocess.PIPE)
        return subprocess.Popen(
            self.argv(argv),
            text=True,
            env=env or self.env(),
            cwd=cwd or self.dir,
            stdin=subprocess.DEVNULL,
            **kw,
        )

    def pids(self) -> list[int]:
        return _ns_pids(self.ns)

    def kill_all(self) -> list[int]:
        """SIGKILL every process of this host; returns the ones killed."""
        pids = self.pids()
        left = _kill_ns(self.ns)
        assert not left, f"{self.role}: processes survived SIGKILL: {left}"
        return pids

    # ---------------------------------------------------------------- Ray on this host
    def ray_start(self, head: Host | None = None, *, cpus: int = 1, port: int = 6379) -> None:
        """``ray start --head`` (``head`` None) or ``ray start --address HEAD:PORT``, as the
        README's cluster recipe says, with this host's address, temp dir and the token."""
        self.ray_tmp = Path(tempfile.mkdtemp(prefix=f"r{self.role}", dir=self.cluster.dir))
        argv = [
            RAY,
            "start",
            f"--node-ip-address={self.ip}",
            f"--num-cpus={cpus}",
            "--num-gpus=0",
            f"--temp-dir={self.ray_tmp}",
            *RAY_SMALL,
        ]
        if head is None:
            argv += ["--head", f"--port={port}", "--include-dashboard=false"]
            env = self.env(**HEALTH)
        else:
            argv += [f"--address={head.ip}:{port}"]
            env = self.env()
        self.run(argv, env=env, timeout=180, check=True)


class NetCluster:
    """The hosts, the bridge between them, the PostgreSQL server and the Ray nodes."""

    def __init__(self, roles=tuple(ROLES)) -> None:
        reap_stale()
        self.short = uuid.uuid4().hex[:4]
        self.tag = f"{PREFIX}-{os.getpid()}-{self.short}"
        self.dir = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{self.short}-", dir="/tmp"))
        os.chmod(self.dir, 0o755)
        self.token = uuid.uuid4().hex + uuid.uuid4().hex
        self.sw = f"{self.tag}-sw"
        self.namespaces: list[str] = []
        self.hosts: dict[str, Host] = {}
        self.pg: Postgres | None = None
        try:
            self._ns(self.sw)
            _run("ip", "-n", self.sw, "link", "add", "br0", "type", "bridge")
            _run("ip", "-n", self.sw, "link", "set", "br0", "up")
            for role in roles:
                host = Host(self, role)
                self._ns(host.ns)
                port = f"p-{role}"
                _run(
                    "ip",
                    "-n",
                    self.sw,
                    "link",
                    "add",
                    port,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    "eth0",
                    "netns",
                    host.ns,
                )
                _run("ip", "-n", self.sw, "link", "set", port, "master", "br0")
                _run("ip", "-n", self.sw, "link", "set", port, "up")
                _run("ip", "-n", host.ns, "addr", "add", f"{host.ip}/24", "dev", "eth0")
                _run("ip", "-n", host.ns, "link", "set", "eth0", "up")
                _run("ip", "-n", host.ns, "link", "set", "lo", "up")
                self.hosts[role] = host
        except BaseException:
            self.close()
            raise

    def _ns(self, name: str) -> None:
        _run("ip", "netns", "add", name)
        self.namespaces.append(name)

    def __getitem__(self, role: str) -> Host:
        return self.hosts[role]

    def cut(self, role: str, down: bool = True) -> None:
        """Take a host's link (its port on the bridge) down, or back up."""
        _run("ip", "-n", self.sw, "link", "set", f"p-{role}", "down" if down else "up")

    def start_postgres(self) -> Postgres:
        self.pg = Postgres(self["db"])
        return self.pg

    def start_ray(self, workers=("w1", "w2")) -> str:
        """The Ray head and its workers; returns the head's address."""
        self["head"].ray_start(cpus=0)
        for w in workers:
            self[w].ray_start(self["head"])
        return f"{self['head'].ip}:6379"

    def leftovers(self) -> list[str]:
        """This run's namespaces that still exist."""
        res = _run("ip", "netns", "list", check=False)
        names = {ln.split()[0] for ln in res.stdout.splitlines() if ln.split()}
        return sorted(names & set(self.namespaces))

    def close(self) -> None:
        """Kill every process of every host, delete every namespace (the veth pairs and the
        bridge go with them) and the temp dir."""
        for ns in reversed(self.namespaces):
            _kill_ns(ns)
        for ns in reversed(self.namespaces):
            _run("ip", "netns", "del", ns, check=False)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> NetCluster:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Postgres:
    """A PostgreSQL server of its own on the db host: initdb in the cluster's temp dir (as the
    ``postgres`` user: initdb refuses root), listening on the db host's address only, a role and
    a database ``sweep`` with a password."""

    def __init__(self, host: Host) -> None:
        self.host = host
        self.bin = pg_bin()
        self.data = host.dir / "pgdata"
        self.sock = host.dir / "pgsock"
        self.sock.mkdir()
        self.password = uuid.uuid4().hex[:16]
        pw = host.dir / "pw"
        pw.write_text(self.password + "\n")
        for p in (host.dir, self.sock, pw):
            shutil.chown(p, "postgres")
        self._as_pg(
            [
                str(self.bin / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                f"--pwfile={pw}",
                "--no-sync",
            ]
        )
        pw.unlink()
        with open(self.data / "pg_hba.conf", "a") as f:
            f.write(f"host all all {SUBNET}.0/24 scram-sha-256\n")
        self.start()
        sql = (
            f"CREATE ROLE sweep LOGIN PASSWORD '{self.password}'; "
            "CREATE DATABASE sweep OWNER sweep;"
        )
        for stmt in sql.split("; "):
            self._as_pg(
                [
                    "psql",
                    "-h",
                    str(self.sock),
                    "-U",
                    "postgres",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-c",
                    stmt,
                ]
            )

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://sweep:{self.password}@{self.host.ip}:5432/sweep"

    def _as_pg(self, argv: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
        return self.host.run(
            ["runuser", "-u", "postgres", "--", *argv], timeout=timeout, check=True
        )

    def start(self) -> None:
        opts = (
            f"-c listen_addresses={self.host.ip} -c port=5432 -c unix_socket_directories="
            f"{self.sock} -c max_connections=80 -c shared_buffers=16MB -c fsync=off"
        )
        log = str(self.host.dir / "pg.log")
        self._as_pg(
            [
                str(self.bin / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                log,
                "-o",
                opts,
                "-w",
                "-t",
                "60",
                "start",
            ]
        )

    def stop(self, mode: str = "immediate") -> None:
        self._as_pg([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"])

    def restart(self) -> None:
        """A crash-like restart: ``-m immediate`` (connections cut, no checkpoint), then up."""
        self.stop("immediate")
        self.start()


@contextlib.contextmanager
def inside(ns: str):
    """Run the block's new sockets in network namespace ``ns`` (this thread only)."""
    libc = ctypes.CDLL(None, use_errno=True)
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    target = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    try:
        if libc.setns(target, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns {ns}")
        yield
    finally:
        if libc.setns(own, CLONE_NEWNET) != 0:  # never stay in a namespace
            raise OSError(ctypes.get_errno(), "setns back")
        os.close(own)
        os.close(target)
