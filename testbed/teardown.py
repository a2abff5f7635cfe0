"""Finding and removing everything a testbed made, whatever a killed run left:
processes, mounts, links, namespaces, cgroups and the state directory."""

from __future__ import annotations

import os
import re
import shutil
import signal
import time
from pathlib import Path

from testbed import machine
from testbed.machine import TestbedError, log, run


def namespaces(tb) -> list[str]:
    out = run("ip", "netns", "list").stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith(tb.name + "-")]


def processes(tb) -> list[int]:
    """Every process this testbed started: nspawn and tinyproxy (their command
    lines name the state dir) and everything inside the hosts (they live in the
    testbed's network namespaces; a host's systemd reports its root as "/")."""
    marker = str(tb.state_dir) + "/"
    inodes = {os.stat(f"/run/netns/{ns}").st_ino for ns in namespaces(tb)}
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            in_netns = os.stat(entry / "ns/net").st_ino in inodes
        except OSError:
            continue
        if marker in cmdline or in_netns:
            found.append(int(entry.name))
    return found


def mounts(tb) -> list[str]:
    marker = str(tb.state_dir) + "/"
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if point.startswith(marker):
            points.append(point)
    return points


def links(tb) -> list[str]:
    out = run("ip", "-o", "link", "show").stdout
    names = [re.split(r"[:@]", line.split(": ", 1)[1])[0] for line in out.splitlines()]
    return [n for n in names if n.startswith(tb.name + "-")]


def leftovers(tb) -> dict[str, list]:
    found = {
        "cgroups": machine.cgroups(tb.name + "-"),
        "processes": processes(tb),
        "mounts": mounts(tb),
        "links": links(tb),
        "namespaces": namespaces(tb),
        "state_dir": [str(tb.state_dir)] if tb.state_dir.exists() else [],
    }
    return {k: v for k, v in found.items() if v}


def remove(tb):
    # The hosts' PID 1 dies with SIGKILL from here, and takes its namespace with it.
    for _ in range(20):
        pids = processes(tb)
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.25)
    for point in sorted(mounts(tb), key=len, reverse=True):
        run("umount", point, check=False)
    for ns in namespaces(tb):
        run("ip", "netns", "delete", ns)
    for link in links(tb):
        run("ip", "link", "delete", link, check=False)
    for top in machine.cgroups(tb.name + "-"):  # emptied by the kill above; innermost first
        for d in sorted((p for p in Path(top).rglob("*") if p.is_dir()), key=lambda p: len(p.parts),
                        reverse=True) + [Path(top)]:
            d.rmdir()
    left = leftovers(tb)
    left.pop("state_dir", None)
    if left:
        raise TestbedError(f"testbed {tb.name}: could not remove {left}")
    if tb.state_dir.exists():
        shutil.rmtree(tb.state_dir)
    log(f"testbed {tb.name} is down")
