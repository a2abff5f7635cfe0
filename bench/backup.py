"""Backup and restore throughput against the seed's pipeline, on the testbed.

    .venv/bin/python -m bench.backup [--name tb] [--size-mb 1024]

On db2 (the backup source), in one run: a `bench` database with the sales tables
is filled with realistic rows (not binlogged: the primary and the archive never
see it) to --size-mb of InnoDB data. Then, on the same host and data:

    ours      stack-backup run (physical | zstd -T0 | age, to disk and S3) and
              stage + swap (decrypt, prepare, copy back, restart, rows checked)
    baseline  mysqldump --single-transaction | gzip > file, and gunzip | mysql

It prints both times, the ratios (baseline / ours: higher is better; the goals
are >= 3x for backup and >= 5x for restore), the compressed sizes, and the RPO of
the binlog archive measured on the primary. Afterwards the bench data, its
backups (local and in S3) are removed and db2 is seeded again from db1, as the
testbed was. The host part is bench/backup_host.py. Needs a deployed testbed
(./quickstart deploy).
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

HOST_PART = Path(__file__).with_name("backup_host.py")


def on_db2(tb: Testbed, step: str, *args: str) -> dict:
    with open(HOST_PART) as code:
        proc = subprocess.run(["ssh", "-F", str(tb.state_dir / "ssh_config"), "db2", "sudo", "-n", "python3", "-",
                               step, *map(shlex.quote, args)], stdin=code, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"bench step {step} failed on db2:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def rpo(tb: Testbed) -> tuple[float, int]:
    """Seconds from a write on the primary to the binlog holding it being in S3 (the
    archiver's log on db2 says when), without a flush by hand: what a write waits."""
    def ssh(host, *command):
        return subprocess.run(["ssh", "-F", str(tb.state_dir / "ssh_config"), host, "sudo", "-n", *command],
                              capture_output=True, text=True, check=True).stdout.strip()
    flush = json.loads(ssh("db2", "cat", "/etc/stack/backup.json"))["binlog"]["flush_seconds"]
    current = ssh("db1", "mariadb", "-N", "-e", shlex.quote("SHOW MASTER STATUS")).split("\t")[0]
    since = f"@{int(time.time())}"
    ssh("db1", "mariadb", "-e", shlex.quote("CREATE TABLE sales.bench_rpo (id INT); DROP TABLE sales.bench_rpo"))
    started = time.monotonic()
    while f"archived {current} " not in ssh("db2", "journalctl", "-u", "stack-binlog-archive", "--since",
                                                since, "--no-pager", "-o", "cat"):
        if time.monotonic() - started > flush * 2 + 30:
            raise SystemExit(f"the write in {current} was not archived in {flush * 2 + 30}s")
        time.sleep(0.5)
    return time.monotonic() - started, flush


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="bench.backup", description=__doc__.split("\n")[0])
    p.add_argument("--name", default="tb", help="the testbed (default tb)")
    p.add_argument("--size-mb", type=int, default=1024, help="InnoDB data to generate (default 1024)")
    args = p.parse_args(argv)
    tb = Testbed(name=args.name)
    tb.load_state()
    rpo_s, flush = rpo(tb)
    try:
        made = on_db2(tb, "generate", str(args.size_mb))
        print(f"dataset: {made['mb']} MB of InnoDB data, {made['rows']} rows (bench.sale, sale_item, stock_move on db2)")
        base_b, ours_b = on_db2(tb, "baseline-backup"), on_db2(tb, "backup")
        subprocess.run(["ssh", "-F", str(tb.state_dir / "ssh_config"), "db2", "sudo", "-n", "install", "-D", "-m",
                        "0600", "/dev/stdin", "/run/stack-bench/identity"],
                       stdin=open(tb.state_dir / "backup_age_identity.txt"), check=True)
        ours_r, base_r = on_db2(tb, "restore"), on_db2(tb, "baseline-restore")
    finally:
        on_db2(tb, "clean")
        tb.ssh("db2", "stack-mysql", "replica", "--reseed")  # db2 back on db1, as before the bench
    print(f"backup   ours {ours_b['s']:7.1f}s  {ours_b['bytes'] / 2**20:8.1f} MB (zstd, age, to disk and S3)   "
          f"baseline {base_b['s']:7.1f}s  {base_b['bytes'] / 2**20:8.1f} MB (mysqldump | gzip)   "
          f"ratio {base_b['s'] / ours_b['s']:.1f}x (goal >= 3x)")
    print(f"restore  ours {ours_r['s']:7.1f}s (stage + swap, rows checked)   "
          f"baseline {base_r['s']:7.1f}s (gunzip | mysql)   ratio {base_r['s'] / ours_r['s']:.1f}x (goal >= 5x)")
    print(f"binlog archive RPO: a write on the primary was in S3 after {rpo_s:.1f}s (flush every {flush}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
