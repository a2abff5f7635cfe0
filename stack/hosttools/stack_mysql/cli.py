"""stack-mysql: bring a MySQL/MariaDB server to the state in a desired-state file.

Installed on db hosts by tasks/mysql.py and run there as root. It talks to the
server over the unix socket as root (no password anywhere), reads every secret
from the 0600 desired-state file, and never puts one on a command line.

    stack-mysql accounts --check   exit 1 (and list the changes) if not in sync
    stack-mysql accounts --apply   databases, users, grants, secure installation
    stack-mysql replica --check    exit 0 if replicating, 1 if not
    stack-mysql replica --ensure   seed from the primary and start replicating
    stack-mysql replica --reseed   drop what this replica holds, then seed again (after a restore)
    stack-mysql freeze             the primary read-only (but for the migration user); prints
                                   {"gtid": the binlog position every acknowledged write is before}
    stack-mysql thaw               writable again
    stack-mysql optimize           ANALYZE, and an online rebuild where worth it, of the big tables (monthly)

Standalone on purpose: Python 3 and python3-pymysql, nothing from this repo.
"""

from __future__ import annotations

import argparse
import json
import sys

from .accounts import accounts
from .freeze import freeze, thaw
from .optimize import optimize
from .replica import replica
from .server import Failure

DESIRED = "/etc/stack/mysql.json"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="stack-mysql", description=__doc__.split("\n")[0])
    p.add_argument("--desired", default=DESIRED)
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("accounts", "replica"):
        sp = sub.add_parser(name)
        mode = sp.add_mutually_exclusive_group(required=True)
        mode.add_argument("--check", action="store_true")
        mode.add_argument("--apply" if name == "accounts" else "--ensure", action="store_true", dest="act")
        if name == "replica":
            mode.add_argument("--reseed", action="store_true")
    sub.add_parser("freeze")
    sub.add_parser("thaw")
    sub.add_parser("optimize")
    args = p.parse_args(argv)
    with open(args.desired) as f:
        desired = json.load(f)
    try:
        if args.cmd == "accounts":
            return accounts(desired, apply=args.act)
        if args.cmd in ("freeze", "thaw", "optimize"):
            return {"freeze": freeze, "thaw": thaw, "optimize": optimize}[args.cmd](desired)
        return replica(desired, ensure=args.act or args.reseed, reseed=args.reseed)
    except Failure as e:
        print(f"stack-mysql: {e}", file=sys.stderr)
        return 2
