"""bench.backup's part on db2, run by bench/backup.py as `ssh db2 sudo -n python3 - STEP
ARGS < this file` (root): one step per call, its timing measured there, one line of JSON.

    generate MB        a `bench` database with the sales tables, filled to MB of InnoDB data
                       (not binlogged), and a stack-backup config of its own
    baseline-backup    mysqldump --single-transaction | gzip
    backup             stack-backup run with that config
    restore            stack-backup stage latest + swap
    baseline-restore   gunzip | mysql
    clean              the database, the backups (local and in S3) and the config removed
"""
import json
import os
import shutil
import subprocess
import sys
import time

CFG, WORK = "/etc/stack/bench-backup.json", "/var/backups/stack-bench"


def sql(*statements, db=None):
    import pymysql

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


def generate(mb: float) -> dict:
    sql("DROP DATABASE IF EXISTS bench", "CREATE DATABASE bench")
    for table in ("sale", "sale_item", "stock_move"):
        sql(f"CREATE TABLE bench.{table} LIKE sales.{table}")
    sql("USE bench", "INSERT INTO bench.sale (total, created_at) SELECT ROUND(5 + RAND() * 495, 2), "
        "NOW() - INTERVAL FLOOR(RAND() * 31536000) SECOND FROM seq_1_to_1000",
        "INSERT INTO bench.sale_item (sale_id, sku, qty, price) SELECT id, "
        "CONCAT('SKU-', LPAD(FLOOR(RAND() * 50000), 6, '0')), 1 + FLOOR(RAND() * 5), ROUND(1 + RAND() * 199, 2) "
        "FROM bench.sale, seq_1_to_3",
        "INSERT INTO bench.stock_move (sku, delta, reason, created_at) SELECT sku, -qty, "
        "CONCAT('sale ', sale_id, ': shipped to customer from warehouse ', 1 + sale_id % 7), NOW() FROM bench.sale_item")
    while data_mb() < mb:  # doubling: each round copies every table onto itself, ids fresh
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
    return {"mb": round(data_mb()), "rows": rows}


def baseline_backup() -> dict:
    seconds = sh(f"mysqldump --single-transaction bench | gzip > {WORK}/dump.sql.gz")
    return {"s": seconds, "bytes": os.path.getsize(f"{WORK}/dump.sql.gz")}


def backup() -> dict:
    seconds = sh(f"stack-backup --config {CFG} run")
    (m,) = [json.load(open(f"{WORK}/{n}")) for n in os.listdir(WORK) if n.endswith(".json")]
    return {"s": seconds, "bytes": m["size_bytes"]}


def restore() -> dict:
    seconds = sh(f"stack-backup --config {CFG} stage latest --identity /run/stack-bench/identity && "
                 f"stack-backup --config {CFG} swap")
    return {"s": seconds}


def baseline_restore() -> dict:
    sql("DROP DATABASE bench", "CREATE DATABASE bench")
    seconds = sh(f"gunzip < {WORK}/dump.sql.gz | mysql --init-command='SET sql_log_bin = 0' bench")
    return {"s": seconds}


def clean() -> dict:
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
    return {}


if __name__ == "__main__":
    step, args = sys.argv[1], sys.argv[2:]
    out = {"generate": lambda: generate(float(args[0])), "baseline-backup": baseline_backup, "backup": backup,
           "restore": restore, "baseline-restore": baseline_restore, "clean": clean}[step]()
    print(json.dumps(out))
