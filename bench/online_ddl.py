"""Online schema change against a plain ALTER TABLE, on the testbed.

    .venv/bin/python -m bench.online_ddl [--name tb] [--rows 5000000] [--seconds 20]

sale_item gets --rows more rows (one sale's). Then, while a steady writer commits
about 50 sales/s through nginx, the same change (an index added, a column's type
changed) runs three times: online, as a revision's online.alter runs it (the
release's migrations/online.py on app1: pt-online-schema-change, throttled on db2's
lag); as the server's own online ALTER (ALGORITHM=COPY, LOCK=NONE: MariaDB 11.2+,
which 10.11 refuses); and as one plain ALTER TABLE on db1. Each is undone after,
untimed and with no writer.
For each: failed writes, write P99 and maximum latency, db2's maximum lag (a
heartbeat row set on db1 every 50 ms, its age read on db2) and total time. The
writer alone for --seconds first gives the P99 the goals compare with: for the
online change 0 failed writes, P99 <= 5x, lag <= 1.5 s. The host parts are
bench/online_ddl_host.py; it removes all it made. Needs a deployed testbed.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

from testbed import Testbed
from testbed.load import Load

HOST_PART = Path(__file__).with_name("online_ddl_host.py")
CHANGE = ("sale_item", "ADD INDEX ix_bench_qty (qty), MODIFY qty BIGINT NOT NULL")
# The server's own online ALTER (MariaDB 11.2+: a copy that lets writes through); 10.11 refuses it.
NATIVE = ", ALGORITHM=COPY, LOCK=NONE"
UNDO = ("sale_item", "DROP INDEX ix_bench_qty, MODIFY qty INT NOT NULL")
SALE = json.dumps({"items": [{"sku": "BENCH-DDL", "qty": 1, "price": "1.00"}]}).encode()
RATE, CLIENTS = 50, 8  # the steady writer: sales per second, over this many clients
STOP = "/run/stack-bench-online.stop"  # the heartbeat and the lag sampler end when it exists
RELEASE_PYTHON = "/srv/sales/current/venv/bin/python"  # the release's, with its driver


def part(tb: Testbed, host: str, python: str, *args: str, background: bool = False):
    """bench/online_ddl_host.py MODE ARGS on ``host``: its JSON line (or the process)."""
    argv = ["ssh", "-F", str(tb.state_dir / "ssh_config"), "-o", "BatchMode=yes", host, "sudo", "-n", python, "-",
            *map(shlex.quote, args)]
    with open(HOST_PART) as code:
        if background:
            return subprocess.Popen(argv, stdin=code, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        proc = subprocess.run(argv, stdin=code, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"bench.online_ddl: {args[0]} on {host} failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def caught_up(tb: Testbed):
    """db2 has applied all db1 has (a plain ALTER of millions of rows takes as long there)."""
    pos = tb.ssh("db1", "mariadb", "-N", "-e", shlex.quote("SELECT @@gtid_binlog_pos")).stdout.strip()
    tb.ssh("db2", "mariadb", "-N", "-e", shlex.quote(f"SELECT MASTER_GTID_WAIT('{pos}', 3600)"))


def measured(tb: Testbed, address: str, how: str | None, seconds: float) -> dict:
    """The writer, the heartbeat and the lag sampler around the change ``how`` runs
    ("online", "plain"), or around ``seconds`` of nothing."""
    for h in ("db1", "db2"):
        tb.ssh(h, "rm", "-f", STOP)
    beat = part(tb, "db1", "python3", "heartbeat", STOP, background=True)
    watch = part(tb, "db2", "python3", "lag", STOP, background=True)
    time.sleep(1)  # the heartbeat's table on db2
    with Load(address, requests=[("POST", "/sales", SALE)], rate=RATE, workers=CLIENTS, max_seconds=7200,
              settle=0) as load:
        if how is None:
            time.sleep(seconds)
        elif how == "online":
            seconds = part(tb, "app1", RELEASE_PYTHON, "online", *CHANGE)["seconds"]
        else:
            table, spec = CHANGE
            seconds = part(tb, "db1", "python3", "plain", table, spec + (NATIVE if how == "native" else ""))["seconds"]
    caught_up(tb)  # a plain ALTER reaches the replica after it ended on the primary: its lag is after too
    for h in ("db2", "db1"):
        tb.ssh(h, "touch", STOP)
    lag = json.loads(watch.communicate(timeout=60)[0].strip().splitlines()[-1])["max_lag_s"]
    beat.communicate(timeout=60)
    latencies = sorted(r[1] for r in load.records)
    return {"writes": len(load.records), "failed": len(load.failures), "lag": lag, "seconds": seconds,
            "p99": latencies[int(len(latencies) * 0.99)], "max": latencies[-1]}


def undone(tb: Testbed):
    part(tb, "db1", "python3", "plain", *UNDO)
    caught_up(tb)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="bench.online_ddl", description=__doc__.split("\n")[0])
    p.add_argument("--name", default="tb", help="the testbed (default tb)")
    p.add_argument("--rows", type=int, default=5_000_000, help="sale_item rows added (default 5,000,000)")
    p.add_argument("--seconds", type=float, default=20, help="the writer alone, for its P99 (default 20)")
    args = p.parse_args(argv)
    tb = Testbed(name=args.name)
    address = tb.load_state()["hosts"]["web1"]["address"]
    sale = part(tb, "db1", "python3", "seed", str(args.rows))["sale"]
    try:
        caught_up(tb)
        alone = measured(tb, address, None, args.seconds)
        results = {}
        for how in ("online", "native", "plain"):
            try:
                results[how] = measured(tb, address, how, 0)
            except SystemExit as e:  # the native one, on a server without online copies
                if how != "native":
                    raise
                results[how] = str(e).strip().splitlines()[-1]
                continue
            undone(tb)
    finally:
        part(tb, "db1", "python3", "clean", str(sale))
        caught_up(tb)
    print(f"online_ddl writer alone ({RATE} sales/s, {args.seconds:.0f}s): {alone['writes']} writes, "
          f"{alone['failed']} failed, P99 {alone['p99'] * 1000:.0f} ms, replica max lag {alone['lag']:.2f}s")
    names = {"online": "online change (pt-online-schema-change)", "native": f"server's online ALTER ({NATIVE[2:]})",
             "plain": "plain ALTER TABLE"}
    for how, name in names.items():
        r = results[how]
        if isinstance(r, str):
            print(f"online_ddl {name}: refused by the server: {r}")
            continue
        goals = " (goal 0)" if how == "online" else ""
        print(f"online_ddl {name}, sale_item +{args.rows:,} rows: {r['failed']} failed writes of {r['writes']}{goals}, "
              f"P99 {r['p99'] * 1000:.0f} ms = {r['p99'] / alone['p99']:.1f}x alone"
              f"{' (goal <= 5x)' if goals else ''}, max {r['max'] * 1000:.0f} ms, replica max lag {r['lag']:.2f}s"
              f"{' (goal <= 1.5s)' if goals else ''}, {r['seconds']:.1f}s in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
