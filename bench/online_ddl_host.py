"""bench.online_ddl's parts on the testbed's hosts, run by bench/online_ddl.py as
`ssh HOST sudo -n PYTHON - MODE ARGS < this file` (root; python3 on the db hosts,
the current release's venv on app1). Each prints one line of JSON.

    seed ROWS          db1: ROWS sale_item rows of one new sale, in batches; prints its id
    clean SALE         db1: that sale and its rows deleted, in batches
    heartbeat STOP     db1: bench_online.heartbeat set to NOW(6) every 50 ms until STOP exists;
                       then its database dropped
    lag STOP           db2: the heartbeat's age sampled every 50 ms until STOP exists: the
                       replica's maximum lag, to the millisecond
    online TABLE SPEC  app1: the product's online change (migrations/online.py of the
                       release running), as the migration user over TLS
    plain TABLE SPEC   db1: the same change as one ALTER TABLE
"""

import json
import os
import sys
import time

SOCKET = "/run/mysqld/mysqld.sock"
BATCH = 250_000  # rows per statement: a binlog event group the replica applies quickly


def db(database=None):
    import pymysql

    return pymysql.connect(unix_socket=SOCKET, user="root", database=database, autocommit=True)


def seed(rows: int) -> dict:
    with db("sales") as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO sale (total) VALUES (0)")
        sale = cur.lastrowid
        for start in range(0, rows, BATCH):
            n = min(BATCH, rows - start)
            cur.execute(f"INSERT INTO sale_item (sale_id, sku, qty, price) SELECT {int(sale)}, "
                        f"CONCAT('BENCH-DDL-', seq % 1000), 1 + seq % 5, 1.00 FROM seq_1_to_{n}")
    return {"sale": sale}


def clean(sale: int) -> dict:
    with db("sales") as conn, conn.cursor() as cur:
        while cur.execute(f"DELETE FROM sale_item WHERE sale_id = {sale} LIMIT {BATCH}"):
            pass
        cur.execute(f"DELETE FROM sale WHERE id = {sale}")
    return {}


def heartbeat(stop: str) -> dict:
    with db() as conn, conn.cursor() as cur:
        cur.execute("CREATE DATABASE IF NOT EXISTS bench_online")
        cur.execute("CREATE TABLE IF NOT EXISTS bench_online.heartbeat (id INT PRIMARY KEY, ts DATETIME(6))")
        try:
            while not os.path.exists(stop):
                cur.execute("REPLACE INTO bench_online.heartbeat VALUES (1, NOW(6))")
                time.sleep(0.05)
        finally:
            cur.execute("DROP DATABASE bench_online")
    return {}


def lag(stop: str) -> dict:
    worst = 0.0
    with db() as conn, conn.cursor() as cur:
        while not os.path.exists(stop):
            try:
                cur.execute("SELECT TIMESTAMPDIFF(MICROSECOND, ts, NOW(6)) FROM bench_online.heartbeat")
                row = cur.fetchone()
                worst = max(worst, row[0] / 1e6 if row else 0.0)
            except Exception:  # the heartbeat's table not replicated yet
                pass
            time.sleep(0.05)
    return {"max_lag_s": worst}


def online(table: str, spec: str) -> dict:
    from sqlalchemy.engine import make_url

    release = os.path.realpath("/srv/sales/current")
    sys.path.insert(0, os.path.join(release, "migrations"))
    import online as change  # the release's migrations/online.py

    env = dict(line.split("=", 1) for line in open("/etc/stack/app-migrate.env").read().splitlines()
               if line and not line.startswith("#"))
    env.update({f"ONLINE_{k.upper()}": str(v) for k, v in json.load(open("/etc/stack/app.json"))["online"].items()})
    url = make_url("mysql+pymysql://").set(username=env["DATABASE_USER"], password=env["DATABASE_PASSWORD"],
                                           host=env["DATABASE_HOST"], port=int(env["DATABASE_PORT"]),
                                           database=env["DATABASE_NAME"])
    started = time.monotonic()
    change.run(url, table, spec, env)
    return {"seconds": time.monotonic() - started}


def plain(table: str, spec: str) -> dict:
    with db("sales") as conn, conn.cursor() as cur:
        started = time.monotonic()
        cur.execute(f"ALTER TABLE {table} {spec}")
        return {"seconds": time.monotonic() - started}


if __name__ == "__main__":
    mode, *args = sys.argv[1:]
    out = {"seed": lambda: seed(int(args[0])), "clean": lambda: clean(int(args[0])), "heartbeat": lambda: heartbeat(args[0]),
           "lag": lambda: lag(args[0]), "online": lambda: online(*args), "plain": lambda: plain(*args)}[mode]()
    print(json.dumps(out), flush=True)
