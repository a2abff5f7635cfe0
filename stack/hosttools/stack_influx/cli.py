"""stack-influx: InfluxDB setup (1.x and 2.x), and the ops metrics every flow writes.

Installed by tasks/influxdb.py; reads /etc/stack/influxdb.json (0600). Secrets
travel in HTTP request bodies and headers, never on a command line.

    stack-influx setup --check     exit 1 (and list the changes) if not in sync
    stack-influx setup --apply     1.x: admin user, database, retention policy, writer
                                   2.x: onboarding (org, bucket, operator token),
                                        retention, DBRP mapping, writer
    stack-influx write MEASUREMENT tag=value ... field=value ...

Writers (this program, Telegraf) use the v1 write API in both majors, with the
write-only writer account: no host but the monitoring host holds a token that
can read or administer. A point with success=0 is also posted to the webhook
in the config (``webhook_url``), when there is one.

MEASUREMENTS (measurements.py) is the one definition of what ops flows write: the writers
check against it, and the dashboards' queries are tested against it.

Standalone on purpose: Python 3 only.
"""

from __future__ import annotations

import argparse
import json
import sys

from .influx import Influx, notify
from .influx2 import Influx2
from .measurements import MEASUREMENTS, Failure, line, parse_pairs

CONFIG = "/etc/stack/influxdb.json"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="stack-influx", description=__doc__.split("\n")[0])
    p.add_argument("--config", default=CONFIG)
    sub = p.add_subparsers(dest="cmd", required=True)
    sp = sub.add_parser("setup")
    mode = sp.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true")
    mode.add_argument("--apply", action="store_true")
    wp = sub.add_parser("write")
    wp.add_argument("measurement")
    wp.add_argument("pairs", nargs="+", help="tag=value and field=value")
    args = p.parse_args(argv)
    with open(args.config) as f:
        cfg = json.load(f)
    influx = (Influx2 if cfg.get("major") == 2 else Influx)(cfg)
    try:
        if args.cmd == "setup":
            return influx.setup(apply=args.apply)
        tags, fields = parse_pairs(args.pairs, MEASUREMENTS.get(args.measurement, {"fields": {}}))
        point = line(args.measurement, tags, fields)
        try:
            influx.write(point)
        finally:  # the webhook hears of a failure even when InfluxDB is down
            notify(cfg, args.measurement, tags, fields)
    except Failure as e:
        print(f"stack-influx: {e}", file=sys.stderr)
        return 2
    return 0
