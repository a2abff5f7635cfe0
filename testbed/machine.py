"""This machine, the controller: commands, ports, cgroups and kernel limits the
testbed needs. Nothing here knows about hosts."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

# cgroup v1 (hybrid): nspawn finds its cgroup in the unified hierarchy and uses
# the same path in name=systemd. Both are absent on a pure cgroup v2 machine.
CGROUP_HIERARCHIES = (Path("/sys/fs/cgroup/systemd"), Path("/sys/fs/cgroup/unified"))


class TestbedError(RuntimeError):
    __test__ = False  # not a test class, despite the name


def run(*cmd: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, text=True, capture_output=True, **kw)
    if check and proc.returncode != 0:
        raise TestbedError(f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def log(msg: str):
    print(f"[testbed] {msg}", file=sys.stderr, flush=True)


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def url_up(url: str) -> bool:
    """Something listens at the URL's host and port."""
    u = urlsplit(url)
    return bool(u.hostname and u.port) and port_open(u.hostname, u.port)


def wait_for_port(host: str, port: int, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not port_open(host, port):
        if time.monotonic() > deadline:
            raise TestbedError(f"{what} is not listening on {host}:{port} after {timeout}s")
        time.sleep(0.2)


def cgroup(name: str) -> list[Path]:
    """cgroup v1: a cgroup of its own, made if missing. Unregistered nspawn puts its
    container's cgroups under its own, so hosts started from one cgroup would
    share them: two hosts restarting the same unit at once then race for one
    directory (systemd's 219/CGROUP, or a failed restart)."""
    paths = [h / "stack-testbed" / name for h in CGROUP_HIERARCHIES if h.exists()]
    for path in paths:
        path.mkdir(parents=True, exist_ok=True)
    return paths


def cgroups(prefix: str) -> list[str]:
    return [str(p) for h in CGROUP_HIERARCHIES for p in (h / "stack-testbed").glob(f"{prefix}*")]


def raise_inotify_limit(wanted: int = 1024):
    """Each booted host's systemd takes inotify instances from the machine-wide
    per-user budget (default 128, enough for about five hosts)."""
    knob = Path("/proc/sys/fs/inotify/max_user_instances")
    if int(knob.read_text()) < wanted:
        log(f"raising fs.inotify.max_user_instances to {wanted} for the hosts' systemd")
        knob.write_text(str(wanted))
