"""Point-in-time replay against `mariadb-binlog | mariadb`, on the testbed.

    .venv/bin/python -m bench.pitr [--name tb] [--size-mb 1024]

On db2, beside its own server (untouched): --size-mb of binlog from a sales write mix
(4 writers: a sale, its items, stock moves and stock rows per transaction), replayed
from the start into two fresh servers with db2's durability settings: one through
`mariadb-binlog | mariadb` (the baseline: the seed's way, one thread parsing SQL), one
as stack-backup's PITR replays (stack_backup/replay.py: a binlog server and parallel
apply). It prints both times and the ratio (baseline / ours, goal >= 2.5x), and fails
unless every table's CHECKSUM TABLE is the same in both and in the source. The host
part is bench/pitr_host.py; it removes all it made. Needs a deployed testbed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from testbed import Testbed

HOST_PART = Path(__file__).with_name("pitr_host.py")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="bench.pitr", description=__doc__.split("\n")[0])
    p.add_argument("--name", default="tb", help="the testbed (default tb)")
    p.add_argument("--size-mb", type=int, default=1024, help="binlog to replay (default 1024)")
    args = p.parse_args(argv)
    tb = Testbed(name=args.name)
    tb.load_state()
    with open(HOST_PART) as part:
        proc = subprocess.run(["ssh", "-F", str(tb.state_dir / "ssh_config"), "db2", "sudo", "-n", "python3", "-",
                               str(args.size_mb)], stdin=part, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"bench.pitr failed on db2:\n{proc.stderr[-3000:]}")
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    if not r["identical"]:
        raise SystemExit("the two replays' tables differ (CHECKSUM TABLE): the figures mean nothing")
    print(f"pitr replay of {r['mb']} MB of binlog ({r['transactions']} transactions): ours {r['ours_s']:.1f}s "
          f"(binlog server, parallel apply)   baseline {r['baseline_s']:.1f}s (mariadb-binlog | mariadb)   "
          f"ratio {r['baseline_s'] / r['ours_s']:.1f}x (goal >= 2.5x); CHECKSUM TABLE identical")
    return 0


if __name__ == "__main__":
    sys.exit(main())
