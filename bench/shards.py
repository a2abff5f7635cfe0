"""A fleet's converge split into shards (stack/shards.py), the shards side by side.

    .venv/bin/python -m bench.shards [--shards 1,2,4] [--hosts 20] [--runs 3] [--name TESTBED]

Boots the scale bench's testbed (tbs: base-only hosts, `up --extra N`) and converges
it once, then runs the no-op of tasks/base.py split into 1, 2 and 4 shards
(`--data shard=i/n`), each shard a pyinfra process of its own started at once, as the
pipeline's matrix starts one job per shard. For each split: the wall time until the
last shard ended (the median of --runs), its ratio to one shard (the baseline, in the
same run), and the controllers' CPU seconds added up. Removes the testbed at the end;
--name measures a testbed that is up instead.

Here every shard's controller and all the hosts share this machine's cores: on a CI
matrix each shard has a runner of its own, so these ratios are the floor of the gain.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time

from bench.converge import Run, changes, median, pyinfra
from bench.scale import base_only
from testbed import Testbed


def split(tb: Testbed, n: int) -> Run:
    """The no-op of tasks/base.py as n shards started at once: the last one's wall time,
    every controller's CPU."""
    runs: list[Run] = []
    started = time.monotonic()

    def one(i: int):
        runs.append(pyinfra(tb, "--json", "tasks/base.py", "--data", f"shard={i}/{n}"))
    threads = [threading.Thread(target=one, args=(i,)) for i in range(1, n + 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.monotonic() - started
    for run in runs:
        if run.returncode != 0:
            raise SystemExit(f"a shard failed:\n{run.log[-3000:]}")
        if changes(run):
            raise SystemExit(f"not a no-op: {changes(run)}")
    return Run(seconds, sum(r.cpu for r in runs), max(r.peak_mb for r in runs), 0, "", "",
               sum(r.machine_cpu for r in runs) / n)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="bench.shards", description=__doc__.split("\n")[0])
    p.add_argument("--shards", default="1,2,4", help="splits to measure (default 1,2,4; the first is the baseline)")
    p.add_argument("--hosts", type=int, default=20, help="base-only hosts to boot (default 20)")
    p.add_argument("--runs", type=int, default=3, help="runs per split, the median is shown")
    p.add_argument("--name", help="a testbed that is up: all its hosts, no boot")
    args = p.parse_args(argv)
    splits = [int(n) for n in args.shards.split(",")]
    with base_only(args.name, args.hosts) as tb:
        hosts = len(tb.load_state()["hosts"])
        rows = {n: median([split(tb, n) for _ in range(args.runs)]) for n in splits}
        base = rows[splits[0]]
        for n, run in rows.items():
            print(f"no-op of tasks/base.py on {hosts} hosts in {n} shard{'s' * (n > 1)} side by side: "
                  f"{run.seconds:5.2f}s, ratio to {splits[0]} {run.seconds / base.seconds:.2f}x; controllers "
                  f"{run.cpu:.2f} CPU s in all, {run.peak_mb:.0f} MB peak each")
        print(f"on this machine's {os.cpu_count()} cores, shared by the controllers and the hosts")
    return 0


if __name__ == "__main__":
    sys.exit(main())
