"""The whole bench suite, on testbeds of its own: `.venv/bin/python -m bench` (root).

    converge    fresh converge against apt's floor; no-op on 1, 3, 5 hosts; the profile
    rollout     a release rolled out and rolled back under 60 req/s
    app         the request path against its cached ceiling
    backup      backup and restore against mysqldump, the binlog archive's RPO
    pitr        point-in-time replay of 1 GB of binlog against mariadb-binlog | mariadb
    online_ddl  an online schema change of 5 M sale_item rows against a plain ALTER, under writes
    scale       no-op on 1, 5, 10, 20 base-only hosts; per-host cost, 200 and 2,000 extrapolated
    shards      the no-op of 20 base-only hosts split in 1, 2, 4 shards side by side

rollout, app, backup, pitr and online_ddl run on the testbed converge deployed (tbb), scale on its
own (tbs); both are removed at the end. It takes 20 to 30 minutes; --only runs
some (converge is always first when any of rollout, app, backup, pitr, online_ddl is asked).
Each bench prints its figures and ratios; docs/speed.md's tables are made from them.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys

from bench import app, backup, converge, online_ddl, pitr, rollout, scale, shards
from testbed import Testbed

ON_DEPLOYED = {"rollout": rollout.main, "app": app.main, "backup": backup.main, "pitr": pitr.main,
               "online_ddl": online_ddl.main}


def machine() -> str:
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{platform.node()}: {os.cpu_count()} cores, {mem:.0f} GiB, {platform.system()} {platform.release()}"


def section(name: str):
    print(f"\n## {name}", flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="bench", description=__doc__.split("\n")[0])
    p.add_argument("--only", default="converge,rollout,app,backup,pitr,online_ddl,scale,shards",
                   help="comma-separated benches")
    p.add_argument("--backup-size-mb", default="1024", help="bench.backup's data size (default 1024)")
    args = p.parse_args(argv)
    only = args.only.split(",")
    print(f"# bench, {datetime.date.today()}, {machine()}", flush=True)
    try:
        if {"converge", *ON_DEPLOYED} & set(only):
            section("converge")
            converge.main(["--keep"])
            for name in [n for n in ON_DEPLOYED if n in only]:
                section(name)
                extra = ["--size-mb", args.backup_size_mb] if name == "backup" else []
                ON_DEPLOYED[name](["--name", converge.NAME, *extra])
    finally:
        Testbed(name=converge.NAME, hosts=()).down()
    if "scale" in only:
        section("scale")
        scale.main([])
    if "shards" in only:
        section("shards")
        shards.main([])
    return 0


if __name__ == "__main__":
    sys.exit(main())
