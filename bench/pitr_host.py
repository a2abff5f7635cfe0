"""bench.pitr's part on a db host, run there as root by bench/pitr.py:

    python3 - SIZE_MB < bench/pitr_host.py

Beside the host's own server, untouched: a scratch source server takes a sales write
mix from 4 writers until its binlogs hold SIZE_MB; two fresh servers with the host
server's durability replay them from the start, one through `mariadb-binlog |
mariadb` (the baseline), one as stack-backup's PITR does (stack_backup/replay.py,
imported from the installed program). Prints one JSON line: both times, the binlog
size, the transactions, and whether every table's CHECKSUM TABLE is the same.
Everything it made is removed, whatever happens.
"""

import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time

sys.path.insert(0, "/usr/local/sbin/stack-backup")  # the zipapp: stack-backup's own modules
import pymysql  # noqa: E402
from stack_backup.replay import apply_until, binlog_server, scratch_server, target_of  # noqa: E402

WORK = "/var/tmp/stack-bench-pitr"
TABLES = ("sale", "sale_item", "stock_move", "stock")
SCHEMA = (
    "CREATE DATABASE shop",
    "CREATE TABLE shop.sale (id BIGINT AUTO_INCREMENT PRIMARY KEY, total DECIMAL(10,2) NOT NULL, "
    "channel VARCHAR(16), created_at DATETIME(6) NOT NULL)",
    "CREATE TABLE shop.sale_item (id BIGINT AUTO_INCREMENT PRIMARY KEY, sale_id BIGINT NOT NULL, "
    "sku VARCHAR(32) NOT NULL, qty INT NOT NULL, price DECIMAL(10,2) NOT NULL, KEY (sale_id), KEY (sku))",
    "CREATE TABLE shop.stock_move (id BIGINT AUTO_INCREMENT PRIMARY KEY, sku VARCHAR(32) NOT NULL, "
    "delta INT NOT NULL, reason VARCHAR(255) NOT NULL, created_at DATETIME(6) NOT NULL, KEY (sku))",
    "CREATE TABLE shop.stock (sku VARCHAR(32) PRIMARY KEY, on_hand INT NOT NULL)",
    "INSERT INTO shop.stock SELECT CONCAT('SKU-', LPAD(seq, 5, '0')), 1000000 FROM shop.seq_1_to_5000",
)


SERVERS: dict[str, subprocess.Popen] = {}  # the scratch servers, by name


def start(name: str, server_id: int, durability: list[str]) -> str:
    """A fresh server in WORK/name, on a unix socket only; returns the socket."""
    sock = f"{WORK}/{name}.sock"
    SERVERS[name] = scratch_server(f"{WORK}/{name}", sock, "--skip-networking", f"--server-id={server_id}",
                                   "--log-bin=mysql-bin", "--binlog-format=ROW", "--log-slave-updates",
                                   "--gtid-strict-mode=ON", "--max-binlog-size=64M", "--skip-slave-start", *durability)
    return sock


def stop(name: str):
    """A scratch server shut down, if it runs: its binlogs closed."""
    server = SERVERS.pop(name, None)
    if server:
        server.terminate()
        server.wait()


def sql(sock: str, *statements: str) -> list:
    conn = pymysql.connect(unix_socket=sock, user="root", autocommit=True)
    with conn.cursor() as cur:
        for s in statements:
            cur.execute(s)
        out = cur.fetchall()
    conn.close()
    return out


def binlog_mb(sock: str) -> float:
    return sum(size for _, size, *_ in sql(sock, "SHOW BINARY LOGS")) / 2**20


def writer(sock: str, seed: int, halt: threading.Event, done: list):
    """A sale as the app makes one: the sale, 1 to 4 items, their stock moves and the
    stock rows updated, in one transaction; now and then a price correction."""
    rnd, conn = random.Random(seed), pymysql.connect(unix_socket=sock, user="root", database="shop")
    n = 0
    with conn.cursor() as cur:
        while not halt.is_set():
            items = [(f"SKU-{rnd.randint(1, 5000):05d}", rnd.randint(1, 5), round(rnd.uniform(1, 200), 2))
                     for _ in range(rnd.randint(1, 4))]
            cur.execute("INSERT INTO sale (total, channel, created_at) VALUES (%s, 'web', NOW(6))",
                        (sum(q * p for _, q, p in items),))
            sale = cur.lastrowid
            cur.executemany("INSERT INTO sale_item (sale_id, sku, qty, price) VALUES (%s, %s, %s, %s)",
                            [(sale, s, q, p) for s, q, p in items])
            cur.executemany("INSERT INTO stock_move (sku, delta, reason, created_at) VALUES (%s, %s, %s, NOW(6))",
                            [(s, -q, f"sale {sale}: shipped to a customer") for s, q, _ in items])
            for s, q, _ in sorted(items):
                cur.execute("UPDATE stock SET on_hand = on_hand - %s WHERE sku = %s", (q, s))
            if n % 10 == 0:
                cur.execute("UPDATE sale SET total = total * 0.9 WHERE id = %s", (sale,))
            conn.commit()
            n += 1
    conn.close()
    done.append(n)


def checksums(sock: str) -> list:
    return sql(sock, f"CHECKSUM TABLE {', '.join(f'shop.{t}' for t in TABLES)} EXTENDED")


def main() -> int:
    size_mb = float(sys.argv[1])
    host_settings = sql("/run/mysqld/mysqld.sock", "SELECT @@sync_binlog, @@innodb_flush_log_at_trx_commit")[0]
    durability = [f"--sync-binlog={host_settings[0]}", f"--innodb-flush-log-at-trx-commit={host_settings[1]}"]
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK, mode=0o700)
    try:
        source = start("source", 1, durability)
        sql(source, *SCHEMA)
        halt, done = threading.Event(), []
        writers = [threading.Thread(target=writer, args=(source, i, halt, done)) for i in range(4)]
        for w in writers:
            w.start()
        while binlog_mb(source) < size_mb:
            if not any(w.is_alive() for w in writers):
                raise SystemExit("every writer stopped")
            time.sleep(0.5)
        halt.set()
        for w in writers:
            w.join()
        names, mb, want = [n for n, *_ in sql(source, "SHOW BINARY LOGS")], binlog_mb(source), checksums(source)
        stop("source")  # its binlogs closed, then served from a directory of their own, as a restore stages them
        os.makedirs(f"{WORK}/binlog")
        binlogs = [f"{WORK}/binlog/{n}" for n in names]
        for name, path in zip(names, binlogs):
            os.rename(f"{WORK}/source/{name}", path)

        baseline = start("baseline", 2, durability)
        clock = time.monotonic()
        decoded = subprocess.Popen(["mariadb-binlog", "--no-defaults", *binlogs], stdout=subprocess.PIPE)
        subprocess.run(["mariadb", "--user=root", f"--socket={baseline}"], stdin=decoded.stdout, check=True)
        if decoded.wait() != 0:
            raise SystemExit("mariadb-binlog failed")
        baseline_s = time.monotonic() - clock

        ours = start("ours", 3, durability)
        clock = time.monotonic()
        with binlog_server(binlogs, WORK) as (port, user, password):
            apply_until({"socket": ours}, "", target_of(binlogs, ""), port, user, password)
        ours_s = time.monotonic() - clock
        print(json.dumps({"mb": round(mb), "transactions": sum(done), "baseline_s": baseline_s, "ours_s": ours_s,
                          "identical": checksums(baseline) == checksums(ours) == want}))
    finally:
        for name in ("source", "baseline", "ours"):
            stop(name)
        shutil.rmtree(WORK, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
