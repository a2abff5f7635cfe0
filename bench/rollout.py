"""A release rolled out and rolled back under steady load, on the testbed.

    .venv/bin/python -m bench.rollout [--name tb] [--rate 60]

On a deployed testbed, with --rate requests/s of GET /ready through nginx all
along (goal: >= 50 req/s, 0 failed):

    rollout   deploy.py with a new release (a copy of files/app that differs by a
              comment): installed, migrated, switched host by host behind the
              health gate and baked
    rollback  tasks/rollback.py: every app host back to the release before

each against a no-op converge of the same run (the fixed cost of a deploy run).
The testbed ends on the release it started with; the new release stays
installed beside it, as any release does until it is pruned.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from bench.converge import REPO, converged, pyinfra
from testbed import Testbed
from testbed.load import Load


def under_load(tb: Testbed, rate: float, *args: str) -> tuple[float, Load]:
    address = tb.load_state()["hosts"]["web1"]["address"]
    with Load(address, rate=rate) as load:
        run = pyinfra(tb, *args)
    if run.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{run.log[-3000:]}")
    return run.seconds, load


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="bench.rollout", description=__doc__.split("\n")[0])
    p.add_argument("--name", default="tb", help="the testbed (default tb)")
    p.add_argument("--rate", type=float, default=60, help="requests/s during both (default 60)")
    args = p.parse_args(argv)
    tb = Testbed(name=args.name, hosts=())
    tb.load_state()
    noop = converged(tb).seconds
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "app"
        shutil.copytree(REPO / "files/app", src, ignore=shutil.ignore_patterns("__pycache__"))
        (src / "wsgi.py").write_text((src / "wsgi.py").read_text() + "# bench.rollout\n")
        for what, command in (("rollout", ["deploy.py", "--data", f"app_source={src}"]),
                              ("rollback", ["tasks/rollback.py"])):
            seconds, load = under_load(tb, args.rate, *command)
            print(f"{what} under load: {seconds:.1f}s, no-op converge {noop:.1f}s: ratio {seconds / noop:.1f}x; "
                  f"{load.rps:.0f} req/s (goal >= 50), {load.ok + len(load.failures)} requests, "
                  f"{len(load.failures)} failed (goal 0)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
