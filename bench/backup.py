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
testbed was. Needs a deployed testbed (./quickstart deploy).
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time

from testbed import Testbed

# Runs on db2 as root (python3 - ARGS < this): one step per call, its timing measured there.
HOST = r'''
import json, os, shutil, subprocess, sys, time
import pymysql

step, arg = sys.argv[1], sys.argv[2:]
CFG, WORK = "/etc/stack/bench-backup.json", "/var/backups/stack-bench"


def sql(*statements, db=None):
    conn = pymysql.connect(unix_socket="/run/mysqld/mysqld.sock", user="root", database=db, autocommit=True)
    with conn.cursor() as cur:
        cur.execute("SET SESSION sql_log_bin = 0")  # the bench's own data: never replicated nor archived
        for s in statements:
            cur.execute(s)
        out = cur.fetchall()
    conn.close()
    return out


def sh(command):
    started = time.monotonic()
    subprocess.run(["bash", "-o", "pipefail", "-c", command], check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - started


def data_mb():
    sql("ANALYZE TABLE bench.sale, bench.sale_item, bench.stock_move")  # sizes as they are now
    return float(sql("SELECT SUM(data_length + index_length) / 1048576 FROM information_schema.tables "
                     "WHERE table_schema = 'bench'")[0][0] or 0)


if step == "generate":
    sql("DROP DATABASE IF EXISTS bench", "CREATE DATABASE bench")
    for table in ("sale", "sale_item", "stock_move"):
        sql(f"CREATE TABLE bench.{table} LIKE sales.{table}")
    sql("USE bench", "INSERT INTO bench.sale (total, created_at) SELECT ROUND(5 + RAND() * 495, 2), "
        "NOW() - INTERVAL FLOOR(RAND() * 31536000) SECOND FROM seq_1_to_1000",
        "INSERT INTO bench.sale_item (sale_id, sku, qty, price) SELECT id, CONCAT('SKU-', LPAD(FLOOR(RAND() * 50000), 6, '0')), "
        "1 + FLOOR(RAND() * 5), ROUND(1 + RAND() * 199, 2) FROM bench.sale, seq_1_to_3",
        "INSERT INTO bench.stock_move (sku, delta, reason, created_at) SELECT sku, -qty, "
        "CONCAT('sale ', sale_id, ': shipped to customer from warehouse ', 1 + sale_id % 7), NOW() FROM bench.sale_item")
    while data_mb() < float(arg[0]):  # doubling: each round copies every table onto itself, ids fresh
        sql("INSERT INTO bench.sale (total, created_at) SELECT total, created_at FROM bench.sale",
            "INSERT INTO bench.sale_item (sale_id, sku, qty, price) SELECT sale_id + 1000, sku, qty, price "
            "FROM bench.sale_item",
            "INSERT INTO bench.stock_move (sku, delta, reason, created_at) SELECT sku, delta, reason, created_at "
            "FROM bench.stock_move")
    rows = sum(n for (n,) in [sql(f"SELECT COUNT(*) FROM bench.{t}")[0] for t in ("sale", "sale_item", "stock_move")])
    with open("/etc/stack/backup.json") as f:
        cfg = json.load(f)
    cfg.update(host="bench", databases=["bench"], local_dir=WORK, metrics_config=None)  # its own prefix, no points
    with open(os.open(CFG, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        json.dump(cfg, f)
    os.makedirs(WORK, mode=0o700, exist_ok=True)
    print(json.dumps({"mb": round(data_mb()), "rows": rows}))
elif step == "baseline-backup":
    seconds = sh(f"mysqldump --single-transaction bench | gzip > {WORK}/dump.sql.gz")
    print(json.dumps({"s": seconds, "bytes": os.path.getsize(f"{WORK}/dump.sql.gz")}))
elif step == "backup":
    seconds = sh(f"stack-backup --config {CFG} run")
    (m,) = [json.load(open(f"{WORK}/{n}")) for n in os.listdir(WORK) if n.endswith(".json")]
    print(json.dumps({"s": seconds, "bytes": m["size_bytes"]}))
elif step == "restore":
    seconds = sh(f"stack-backup --config {CFG} stage latest --identity /run/stack-bench/identity && "
                 f"stack-backup --config {CFG} swap")
    print(json.dumps({"s": seconds}))
elif step == "baseline-restore":
    sql("DROP DATABASE bench", "CREATE DATABASE bench")
    seconds = sh(f"gunzip < {WORK}/dump.sql.gz | mysql --init-command='SET sql_log_bin = 0' bench")
    print(json.dumps({"s": seconds}))
elif step == "clean":
    sql("DROP DATABASE IF EXISTS bench")
    shutil.rmtree(WORK, ignore_errors=True)
    shutil.rmtree("/run/stack-bench", ignore_errors=True)
    if os.path.exists(CFG):
        import boto3
        cfg = json.load(open(CFG))
        s3 = boto3.client("s3", endpoint_url=cfg["s3"]["endpoint"], aws_access_key_id=cfg["s3"]["access_key_id"],
                          aws_secret_access_key=cfg["s3"]["secret_access_key"], region_name="us-east-1")
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=cfg["s3"]["bucket"], Prefix="bench/"):
            for obj in page.get("Contents", []):
                s3.delete_object(Bucket=cfg["s3"]["bucket"], Key=obj["Key"])
        os.unlink(CFG)
    print(json.dumps({}))
'''


def on_db2(tb: Testbed, step: str, *args: str) -> dict:
    proc = subprocess.run(["ssh", "-F", str(tb.state_dir / "ssh_config"), "db2", "sudo", "-n", "python3", "-", step,
                           *map(shlex.quote, args)], input=HOST, capture_output=True, text=True)
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
