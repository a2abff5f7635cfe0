"""The MariaDB server, over its unix socket as root: what a manifest records, dumps
and loads; and the primary, over TLS as the backup user: a backup's record."""

from __future__ import annotations

import sys

from .commands import pipeline

DATADIR = "/var/lib/mysql"  # Debian's; the binlogs (log_bin = mysql-bin) are in it too


def facts(cfg: dict) -> dict:
    """What the manifest records about the server: position, revision, rows per table."""
    import pymysql

    conn = pymysql.connect(unix_socket=cfg["socket"], user="root")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT @@gtid_current_pos, @@version")
            gtid, version = cur.fetchone()
            rows, revision = {}, None
            for db in cfg["databases"]:
                cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
                            "AND table_type = 'BASE TABLE' ORDER BY table_name", (db,))
                for (table,) in cur.fetchall():
                    cur.execute(f"SELECT COUNT(*) FROM `{db}`.`{table}`")
                    rows[f"{db}.{table}"] = cur.fetchone()[0]
                    if table == "alembic_version":
                        cur.execute(f"SELECT version_num FROM `{db}`.`alembic_version`")
                        revision = (cur.fetchone() or [None])[0]
        return {"gtid_current_pos": gtid, "server_version": version, "rows": rows, "alembic_revision": revision}
    finally:
        conn.close()


def dump_command(socket: str, databases: list[str], *extra: str) -> list[str]:
    return ["mariadb-dump", "--user=root", f"--socket={socket}", "--single-transaction", "--routines", "--triggers",
            "--events", "--hex-blob", *extra, "--databases", *databases]


def recreate(socket: str, drop: list[str], create: list[str]):
    import pymysql

    conn = pymysql.connect(unix_socket=socket, user="root", autocommit=True)
    try:
        with conn.cursor() as cur:
            for db in drop:
                cur.execute(f"DROP DATABASE IF EXISTS `{db}`")
            for db in create:
                cur.execute(f"CREATE DATABASE `{db}`")
    finally:
        conn.close()


def load(socket: str, path: str, databases: list[str], only: str | None = None):
    """The databases emptied, then a dump (zstd) loaded; ``only``: that one of its databases."""
    recreate(socket, databases, databases)
    pipeline(["zstd", "-d", "-q"], ["mariadb", "--user=root", f"--socket={socket}",
                                    *(["--one-database", only] if only else [])], stdin_path=path)


def forget_replication(cfg: dict):
    """A backup taken on a replica carries its replication state: this server starts
    anew as a primary with a fresh binlog, and its replicas are seeded again."""
    import pymysql

    conn = pymysql.connect(unix_socket=cfg["socket"], user="root", autocommit=True)
    try:
        with conn.cursor() as cur:
            for sql in ("STOP SLAVE", "RESET SLAVE ALL", "RESET MASTER", "SET GLOBAL gtid_slave_pos = ''"):
                cur.execute(sql)
    finally:
        conn.close()


def record_backup(cfg: dict, m: dict):
    """A backup_record row (seed 001) on the primary, as the backup user over TLS (the
    backup source is a replica, which takes no writes). A row that can't be written
    is said, not fatal: the backup exists, and its manifest says all the row would."""
    import pymysql

    b, (db, table) = cfg["binlog"], cfg["record_table"].split(".")
    try:
        conn = pymysql.connect(host=b["host"], port=b["port"], user=b["user"], password=b["password"],
                               connect_timeout=5, autocommit=True, ssl_ca=b["ca"], ssl_verify_cert=True,
                               ssl_verify_identity=True)
        with conn.cursor() as cur:
            cur.execute(f"INSERT INTO `{db}`.`{table}` (backup_id, method, host, size_bytes, sha256, s3_key) "
                        "VALUES (%s, %s, %s, %s, %s, %s)",
                        (m["id"], m["method"], m["host"], m["size_bytes"], m["sha256"], m.get("s3_key")))
        conn.close()
    except Exception as e:
        print(f"stack-backup: the backup_record row of {m['id']} was not written: {type(e).__name__}: {e}",
              file=sys.stderr)

