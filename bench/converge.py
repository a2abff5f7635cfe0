"""The full converge on the testbed: fresh, and again with nothing to do.

    .venv/bin/python -m bench.converge [--name tbb] [--noop-only] [--sizes 1,3,5] [--runs 3]

Boots a testbed of its own (tbb, 10.231.6.0/24), then in one run:

    fresh    deploy.py on 5 fresh hosts, against the raw floor: apt-get install of
             the packages that converge installed, on each of the same 5 hosts booted
             fresh again, through the same proxy (goal <= 1.5x)
    no-op    deploy.py again on 1, 3 and 5 hosts (--limit; the median of --runs),
             against pyinfra's own floor on the same hosts: connect, run one
             command (`pyinfra ... exec -- true`) (goals <= 2 s on 1 host, <= 4 s on 5)
    profile  one no-op on 5 hosts counted: the phases (prepare: deploy files and
             their facts; execute: the operations), commands and uploads per host,
             and one command's round trip with and without sudo

With --noop-only it uses a deployed testbed as it is (--name) and measures the
no-op and the profile only. Every run must report no change; otherwise it stops.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from testbed import Testbed

REPO = Path(__file__).resolve().parent.parent
PYINFRA = str(Path(sys.executable).parent / "pyinfra")
NAME, SUBNET = "tbb", "10.231.6.0/24"
FLOOR_NAME, FLOOR_SUBNET = "tbbf", "10.231.5.0/24"  # the floor's fresh hosts
# which hosts a no-op of N hosts runs on: web1 carries three roles, the rest one each
LIMITS = {1: ["web1"], 3: ["db1", "app1", "web1"], 5: ["db1", "db2", "app1", "app2", "web1"]}
NOOP_GOALS = {1: 2.0, 5: 4.0}
FRESH_GOAL = 1.5


@dataclass
class Run:
    seconds: float
    cpu: float  # the controller's CPU seconds (user + system)
    peak_mb: float  # the controller's peak resident memory
    returncode: int
    output: str  # stdout
    log: str  # stderr
    machine_cpu: float = 0  # CPU seconds of the whole machine meanwhile: the controller, the testbed's hosts


def busy() -> float:
    """CPU seconds this machine has been busy (not idle, not waiting for I/O), all cores."""
    fields = [int(f) for f in open("/proc/stat").readline().split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def timed(*command: str, env: dict | None = None) -> Run:
    """A command on the controller: its wall time, CPU and peak memory (wait4's rusage)."""
    started, busy_before = time.monotonic(), busy()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(command, cwd=REPO, env={**os.environ, **(env or {})}, stdout=out, stderr=err,
                                stdin=subprocess.DEVNULL, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.monotonic() - started
        out.seek(0)
        err.seek(0)
        return Run(seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024,
                   os.waitstatus_to_exitcode(status), out.read(), err.read(), busy() - busy_before)


def pyinfra(tb: Testbed, *args: str, limit: list[str] | None = None) -> Run:
    limits = [a for h in (limit or []) for a in ("--limit", h)]
    return timed(PYINFRA, "-y", *limits, "inventories/testbed.py", *args, env={"TESTBED_NAME": tb.name})


def converged(tb: Testbed, limit: list[str] | None = None, file: str = "deploy.py", *args: str) -> Run:
    """One deploy run that must succeed; --json tells which hosts each operation changed."""
    run = pyinfra(tb, "--json", *args, file, limit=limit)
    if run.returncode != 0:
        raise SystemExit(f"{file} failed:\n{run.log[-3000:]}")
    return run


def changes(run: Run) -> list[str]:
    """'operation: hosts' for every operation that changed something."""
    out = json.loads(run.output)
    return [f"{op['name']}: {', '.join(op['success'])}" for op in out["results"]["operations"] if op["success"]]


def noop(tb: Testbed, hosts: list[str], runs: int) -> tuple[Run, Run]:
    """The median no-op of ``runs`` and the median of pyinfra's own floor on the same hosts."""
    noops, floors = [], []
    for _ in range(runs):
        run = converged(tb, hosts)
        if changes(run):
            raise SystemExit(f"not a no-op on {hosts}: {changes(run)}")
        noops.append(run)
        floor = pyinfra(tb, "exec", "--", "true", limit=hosts)
        if floor.returncode != 0:
            raise SystemExit(f"pyinfra exec failed:\n{floor.log[-2000:]}")
        floors.append(floor)
    return median(noops), median(floors)


def median(runs: list[Run]) -> Run:
    return sorted(runs, key=lambda r: r.seconds)[len(runs) // 2]


def packages(tb: Testbed, host: str) -> set[str]:
    return set(tb.ssh(host, "dpkg-query", "-W", "-f", "'${Package}\\n'").stdout.split())


UPDATES = "/etc/apt/sources.list.d/stack-updates.list"  # the suites tasks/base.py adds


def floor_install(tb: Testbed, wanted: dict[str, set[str]], suites: str) -> float:
    """apt-get update and install of ``wanted`` on every (fresh) host at once, through
    the testbed's proxy, from the same suites as the converge (its packages' versions
    come from -updates and -security): wall seconds."""
    proxy = tb.load_state()["apt_proxy"]

    def install(host: str):
        if not wanted[host]:
            return
        tb.ssh(host, "python3", "-c", shlex.quote("import sys; open(sys.argv[1], 'w').write(sys.argv[2])"), UPDATES,
               shlex.quote(suites))
        tb.ssh(host, "apt-get", "-o", f"Acquire::http::Proxy={proxy}", "update", "-qq")
        tb.ssh(host, "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "-o", f"Acquire::http::Proxy={proxy}",
               "install", "-y", "-qq", "--no-install-recommends", *sorted(wanted[host]))
    started = time.monotonic()
    with ThreadPoolExecutor(len(wanted)) as pool:
        list(pool.map(install, wanted))
    return time.monotonic() - started


def round_trips(tb: Testbed, host: str, n: int = 30) -> tuple[float, float]:
    """One command's round trip on an open SSH connection, without and with sudo (ms)."""
    import socket

    import paramiko

    state = tb.load_state()
    client = paramiko.SSHClient()
    client.load_host_keys(state["known_hosts"])
    client.connect(state["hosts"][host]["address"], username="deploy", key_filename=state["ssh_key"])
    client.get_transport().sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as stack/hooks.py

    def ms(command: str) -> float:
        started = time.monotonic()
        for _ in range(n):
            _, out, _ = client.exec_command(command)
            out.channel.recv_exit_status()
        return (time.monotonic() - started) / n * 1000
    try:
        return ms("true"), ms("sudo -H -n sh -c true")
    finally:
        client.close()


def counted(tb: Testbed, hosts: list[str] | None = None) -> tuple[Run, dict]:
    """deploy.py run through bench/pyinfra_run.py: the run, and what it counted."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        limits = [a for h in (hosts or []) for a in ("--limit", h)]
        run = timed(sys.executable, "-m", "bench.pyinfra_run", out.name, "-y", *limits, "inventories/testbed.py",
                    "deploy.py", env={"TESTBED_NAME": tb.name})
        if run.returncode != 0:
            raise SystemExit(f"deploy.py failed:\n{run.log[-3000:]}")
        return run, json.load(open(out.name))


def profile(tb: Testbed, hosts: list[str]):
    _, stats = counted(tb, hosts)
    p = stats["phases"]
    print(f"profile of a no-op on {', '.join(hosts)} ({stats['seconds']:.1f}s): connect {p['prepare']:.2f}s, "
          f"prepare {p['execute'] - p['prepare']:.2f}s, execute {p['done'] - p['execute']:.2f}s "
          f"({stats['operations']} operations, {stats['operations_with_commands']} of them ran commands)")
    for host, h in sorted(stats["hosts"].items()):
        print(f"  {host:6} {h['commands']:3} commands ({h['prepare_commands']} while preparing), "
              f"{h['command_seconds']:.2f}s of round trips, {h['uploads']} uploads")
    plain, sudo = round_trips(tb, hosts[0])
    print(f"  one command on {hosts[0]}: {plain:.1f} ms, with sudo {sudo:.1f} ms (idle; under a run's load more)")


def report_noop(tb: Testbed, sizes: list[int], runs: int) -> dict[int, float]:
    out = {}
    for n in sizes:
        run, floor = noop(tb, LIMITS[n], runs)
        goal = f" (goal <= {NOOP_GOALS[n]:.0f}s)" if n in NOOP_GOALS else ""
        print(f"no-op converge, {n} host{'s' * (n > 1)}: {run.seconds:.2f}s{goal}, pyinfra floor "
              f"(connect, one command) {floor.seconds:.2f}s: ratio {run.seconds / floor.seconds:.1f}x; "
              f"controller {run.cpu:.1f} CPU s, {run.peak_mb:.0f} MB peak")
        out[n] = run.seconds
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="bench.converge", description=__doc__.split("\n")[0])
    p.add_argument("--name", default=NAME, help=f"the testbed (default {NAME}, booted and removed here)")
    p.add_argument("--noop-only", action="store_true", help="a deployed testbed: the no-op and the profile only")
    p.add_argument("--sizes", default="1,3,5", help="no-op host counts (of 1, 3, 5)")
    p.add_argument("--runs", type=int, default=3, help="no-op runs per size, the median is shown")
    p.add_argument("--keep", action="store_true", help="leave the testbed deployed (bench.__main__ goes on with it)")
    args = p.parse_args(argv)
    sizes = [int(n) for n in args.sizes.split(",")]

    if args.noop_only:
        tb = Testbed(name=args.name, hosts=())
        tb.load_state()
        report_noop(tb, sizes, args.runs)
        profile(tb, LIMITS[max(sizes)])
        return 0

    tb = Testbed(name=args.name, subnet=SUBNET)
    tb.down()
    try:
        tb.up()
        hosts = list(tb.load_state()["hosts"])
        fresh = {h: packages(tb, h) for h in hosts}
        run, stats = counted(tb)
        added = {h: packages(tb, h) - fresh[h] for h in hosts}
        suites = tb.ssh(hosts[0], "cat", UPDATES).stdout
        report_noop(tb, sizes, args.runs)
        profile(tb, LIMITS[max(sizes)])
        if not args.keep:
            tb.down()
        floor_tb = Testbed(name=FLOOR_NAME, subnet=FLOOR_SUBNET)  # the same hosts, fresh
        floor_tb.down()
        try:
            floor_tb.up()
            floor = floor_install(floor_tb, added, suites)
        finally:
            floor_tb.down()
        print(f"fresh converge, {len(hosts)} hosts: {run.seconds:.1f}s, floor (apt-get install of the same "
              f"{sum(map(len, added.values()))} packages, same hosts fresh, same proxy) {floor:.1f}s: "
              f"ratio {run.seconds / floor:.2f}x (goal <= {FRESH_GOAL}x); controller {run.cpu:.1f} CPU s, "
              f"{run.peak_mb:.0f} MB peak")
        print("  its slowest operations (wall, all hosts): " + "; ".join(
            f"{name} {seconds:.1f}s" for name, seconds in stats["slowest"][:8]))
    finally:
        if not args.keep:
            tb.down()
    return 0


if __name__ == "__main__":
    sys.exit(main())
