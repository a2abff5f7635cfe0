"""How a no-op converge grows with the host count, on light base-only hosts.

    .venv/bin/python -m bench.scale [--sizes 1,5,10,20] [--runs 3] [--name TESTBED]

Boots a testbed of its own (tbs, 10.231.4.0/24) of base-only hosts
(`up --extra N`: booted systemd hosts that get tasks/base.py only), converges
them once, then runs the no-op of tasks/base.py on 1, 5, 10 and 20 of them
(--limit; the median of --runs). For each: the wall time, the controller's CPU
seconds and peak memory, and the ratio to 1 host (goal: 20 hosts <= 2.5x).
Then it fits time, CPU and memory to a + b x hosts on all but the largest size,
checks that fit against the largest run, and extrapolates to 200 and 2,000
hosts. Removes the testbed at the end. --name measures the first hosts of a
testbed that is up instead (its own hosts, left as they are).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys

from bench.converge import changes, converged, median
from testbed import Testbed

NAME, SUBNET = "tbs", "10.231.4.0/24"
GOAL = 2.5  # the largest size's no-op against 1 host's


def fit(xs: list[int], ys: list[float]) -> tuple[float, float]:
    """Least squares a + b x."""
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    b = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    return my - b * mx, b


@contextlib.contextmanager
def base_only(name: str | None, count: int):
    """The testbed of ``name`` as it is; or, without one, a testbed of our own of ``count``
    base-only hosts, converged once, removed at the end."""
    own = not name
    tb = Testbed(name=NAME, subnet=SUBNET, hosts=(), extra=count) if own else Testbed(name=name, hosts=())
    if own:
        tb.down()
    try:
        if own:
            tb.up()
            # 5 at a time: 20 fresh hosts' apt at once made the proxy's lookups of the mirror fail
            first = converged(tb, None, "tasks/base.py", "--parallel", "5")
            print(f"first converge of tasks/base.py on {count} fresh hosts: {first.seconds:.1f}s")
        yield tb
    finally:
        if own:
            tb.down()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="bench.scale", description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="1,5,10,20", help="host counts (default 1,5,10,20)")
    p.add_argument("--runs", type=int, default=3, help="no-op runs per size, the median is shown")
    p.add_argument("--name", help="a testbed that is up: its first hosts, no boot")
    args = p.parse_args(argv)
    sizes = sorted(int(n) for n in args.sizes.split(","))
    with base_only(args.name, max(sizes)) as tb:
        hosts = list(tb.load_state()["hosts"])
        rows = {}
        for n in sizes:
            runs = [converged(tb, hosts[:n], "tasks/base.py") for _ in range(args.runs)]
            changed = [c for r in runs for c in changes(r)]
            if changed:
                raise SystemExit(f"not a no-op on {n} hosts: {changed}")
            rows[n] = median(runs)
        one = rows[sizes[0]]
        for n, run in rows.items():
            print(f"no-op of tasks/base.py, {n:2} host{'s' * (n > 1)}: {run.seconds:5.2f}s, ratio to "
                  f"{sizes[0]} {run.seconds / one.seconds:.2f}x; controller {run.cpu:.2f} CPU s, "
                  f"{run.peak_mb:.0f} MB peak; the hosts (the rest of this machine) "
                  f"{max(run.machine_cpu - run.cpu, 0):.2f} CPU s")
        big = sizes[-1]
        print(f"{big} hosts against {sizes[0]}: {rows[big].seconds / one.seconds:.2f}x (goal <= {GOAL}x)")
        if len(sizes) >= 3:
            small = sizes[:-1]
            models = {what: fit(small, [getattr(rows[n], what) for n in small]) for what in ("seconds", "cpu", "peak_mb")}
            a, b = models["seconds"]
            print(f"per host: {b * 1000:.0f} ms of wall, {models['cpu'][1] * 1000:.0f} ms of controller CPU, "
                  f"{models['peak_mb'][1]:.1f} MB (fit on {','.join(map(str, small))}; fixed: {a:.2f}s, "
                  f"{models['peak_mb'][0]:.0f} MB)")
            print(f"fit predicts {big} hosts: {a + b * big:.2f}s, measured {rows[big].seconds:.2f}s")
            r = rows[big]
            print(f"{big} hosts share this machine's {os.cpu_count()} cores with the controller: "
                  f"{r.machine_cpu:.2f} CPU s in all, at least {r.machine_cpu / (os.cpu_count() or 1):.2f}s of wall; "
                  f"the controller alone (one process) {r.cpu:.2f}s")
            for n in (200, 2000):
                cpu = models["cpu"][0] + models["cpu"][1] * n
                mem = models["peak_mb"][0] + models["peak_mb"][1] * n
                # pyinfra is one process (gevent): its CPU time is a floor on the wall time
                print(f"{n} hosts, one controller: about {a + b * n:.0f}s as measured here (hosts sharing its "
                      f"cores), at least {cpu:.0f}s of controller CPU on one core; {mem:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
