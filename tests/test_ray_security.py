"""A local Ray started by ``--backend ray`` listens on the loopback only (issue 14, item 9).

Ray binds its servers (GCS, raylet, object manager, core workers) to every interface of a
Linux machine by default; the sweep's own local Ray (no ``address``) must not be reachable from
outside the machine. The check reads the listening sockets of every process the driver started
from /proc (no extra tool needed).
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc"),
    pytest.mark.xdist_group("ray"),  # (it counts Ray processes: one Ray at a time)
]

#: the driver: a local Ray through the backend's own session, one actor started, then the
#: listening sockets of every descendant process, as JSON on stdout
DRIVER = r"""
import json, os, sys
sys.path.insert(0, sys.argv[1])
from sweep.engine.ray_backend import ray_session
import ray
from ray_sockets import listening

@ray.remote(num_cpus=1)
class Probe:
    def pid(self):
        return os.getpid()

with ray_session(None):
    actor = Probe.remote()
    worker = ray.get(actor.pid.remote())
    found = listening(os.getpid())
    node_ip = ray.util.get_node_ip_address()
print(json.dumps({"sockets": found, "worker": worker, "node_ip": node_ip}))
"""

#: /proc parsing, imported by the driver (and usable here)
HELPERS = r'''
import os, socket

def _addr(hexaddr):
    host, port = hexaddr.split(":")
    raw = bytes.fromhex(host)
    if len(raw) == 4:
        ip = socket.inet_ntop(socket.AF_INET, raw[::-1])
    else:  # four 32-bit words, each little-endian
        ip = socket.inet_ntop(socket.AF_INET6, b"".join(raw[i:i + 4][::-1]
                                                       for i in range(0, 16, 4)))
    return ip, int(port, 16)

def _sockets():
    """inode -> (protocol, ip, port) of listening TCP and bound UDP sockets."""
    out = {}
    for proto, listen in (("tcp", "0A"), ("tcp6", "0A"), ("udp", "07"), ("udp6", "07")):
        try:
            lines = open(f"/proc/net/{proto}").read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if f[3] == listen:
                out[f[9]] = (proto, *_addr(f[1]))
    return out

def _descendants(root):
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = open(f"/proc/{d}/stat", "rb").read().rsplit(b")", 1)[1].split()
            except OSError:
                continue
            kids.setdefault(int(stat[1]), []).append(int(d))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out

def listening(root):
    """[(pid, command, protocol, ip, port)] of the sockets ``root`` and its descendants
    listen on."""
    socks = _sockets()
    found = []
    for pid in _descendants(root):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
            argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
            # the program's own name first: a long install path must not hide it
            cmd = " ".join([os.path.basename(argv[0].decode())]
                           + [a.decode() for a in argv[1:]])
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:[") and (s := socks.get(link[8:-1])):
                found.append((pid, cmd[:80], *s))
    return found
'''


def is_loopback(ip: str) -> bool:
    addr = ipaddress.ip_address(ip)
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return addr.is_loopback


def test_the_helpers_see_a_socket_on_every_interface(tmp_path):
    # The /proc reading finds a socket bound to every interface for what it is (the check
    # below would pass vacuously if it could not see one).
    sys.path.insert(0, str(tmp_path))
    (tmp_path / "ray_sockets.py").write_text(HELPERS)
    try:
        from ray_sockets import listening

        with socket.socket() as s:
            s.bind(("0.0.0.0", 0))
            s.listen()
            port = s.getsockname()[1]
            mine = [x for x in listening(os.getpid()) if x[4] == port]
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("ray_sockets", None)
    assert mine and mine[0][3] == "0.0.0.0" and not is_loopback(mine[0][3])


def test_a_local_ray_listens_on_the_loopback_only(tmp_path):
    pytest.importorskip("ray")
    (tmp_path / "ray_sockets.py").write_text(HELPERS)
    (tmp_path / "driver.py").write_text(DRIVER)
    root = str(Path(__file__).resolve().parents[1])
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(RAY_AUTH_MODE="disabled", PYTHONPATH=os.pathsep.join([root, str(tmp_path)]))
    res = subprocess.run(
        [sys.executable, str(tmp_path / "driver.py"), str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    found = out["sockets"]
    commands = " ".join(cmd for _, cmd, *_ in found)
    # Ray's servers were seen (so the check is not vacuous): the GCS, the raylet, the actor.
    assert "gcs_server" in commands and "raylet" in commands, found
    assert out["worker"] in {pid for pid, *_ in found}, found
    exposed = [s for s in found if not is_loopback(s[3])]
    assert not exposed, f"listening beyond the loopback: {exposed}"
    assert is_loopback(out["node_ip"])
