"""stack-mysql optimize: seed 001's monthly ANALYZE and OPTIMIZE of the big tables,
online, on each db host for itself.

ANALYZE TABLE refreshes the optimizer's statistics. OPTIMIZE, for InnoDB, is a rebuild;
it runs here as ``ALTER TABLE ... FORCE, ALGORITHM=INPLACE, LOCK=NONE``, which MariaDB
either does online (reads and writes go on; a metadata lock at the start and the end,
waited for at most ``lock_wait`` seconds) or refuses: it never blocks writes for the
copy. A table with less than ``min_free_percent`` of its space free is not rebuilt:
there is nothing to win. Nothing is written to the binlog (sql_log_bin=0):
each db host's timer runs it for its own copy, and a replica never replays a rebuild
in its one SQL thread, which would hold replication back for the whole copy.
"""

from __future__ import annotations

from .server import Failure, connect, q


def optimize(desired) -> int:
    import pymysql

    cfg, db = desired["optimize"], desired["databases"][0]["name"]
    conn = connect(desired)
    failed = []
    with conn.cursor() as cur:
        cur.execute("SET SESSION sql_log_bin = 0")
        cur.execute("SET SESSION lock_wait_timeout = %s", (cfg["lock_wait"],))
        for table in cfg["tables"]:
            cur.execute("SELECT data_length + index_length AS size, data_free AS free FROM information_schema.tables "
                        "WHERE table_schema = %s AND table_name = %s", (db, table))
            row = cur.fetchone()
            if row is None:
                print(f"stack-mysql: optimize {table}: no such table in {db}, skipped")
                continue
            name = f"{q(db)}.{q(table)}"
            cur.execute(f"ANALYZE TABLE {name}")
            cur.fetchall()
            free = 100 * row["free"] / max(row["size"] + row["free"], 1)  # of the space the table takes
            if free < cfg["min_free_percent"]:
                print(f"stack-mysql: optimize {table}: analyzed; {free:.0f}% free, under "
                      f"{cfg['min_free_percent']}%: not rebuilt")
                continue
            try:
                cur.execute(f"ALTER TABLE {name} FORCE, ALGORITHM=INPLACE, LOCK=NONE")
            except pymysql.MySQLError as e:  # refused (not online here) or a lock not had in time: the table is as it was
                failed.append(f"{table}: {e}")
                continue
            print(f"stack-mysql: optimize {table}: analyzed; rebuilt online ({free:.0f}% was free)")
    if failed:
        raise Failure("optimize: not rebuilt, left as they were: " + "; ".join(failed))
    return 0
