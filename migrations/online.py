"""Online schema change: a revision that declares ``online = True`` changes a big table
with ``online.alter(table, spec)`` instead of ``op.execute("ALTER TABLE ...")``.

It runs pt-online-schema-change (Debian's percona-toolkit): the altered copy is
filled in chunks while triggers carry the writes made meanwhile, and one atomic
RENAME swaps it in. Writes to the table never wait for the copy, only for the
swap's metadata lock, which is bounded (ONLINE_CUTOVER_WAIT seconds, tried
CUTOVER_TRIES times). The copy pauses while the replica (ONLINE_REPLICA) is
ONLINE_MAX_LAG seconds behind or more, or the primary runs more than
ONLINE_MAX_LOAD threads, and stops at ONLINE_CRITICAL_LOAD. stack-app sets these
from group_data (app_migration_online_*).

A stopped change (a failure, the critical load, SIGTERM to this process or to
pt-online-schema-change: docs/migrations.md "Cancel") leaves the table as it was:
its triggers go first, then the half-made copy. What a killed run left is removed
the same way before the next one starts. Offline (``alembic upgrade --sql``) it is
the plain ALTER TABLE, which the plan shows and the DDL lint reads.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import tempfile

from alembic import context, op

# Seconds of work per chunk. Each chunk is one commit whose rows the binlog takes at
# once, and the app's commits queue behind it: measured with bench.online_ddl (1 M
# rows, 50 sales/s), the write P99 was 11.5x the writer's alone at 0.2 s, 3.2x at
# 0.05 s, 2.6x at 0.025 s (which took 1.7x as long); a chunk this small also adds
# little to the replica's lag.
CHUNK_TIME = 0.05
CUTOVER_TRIES = 3  # the swap's attempts, each waiting ONLINE_CUTOVER_WAIT for its lock, 1 s apart


def alter(table: str, spec: str) -> None:
    """ALTER TABLE ``table`` ``spec``, online."""
    if not re.fullmatch(r"\w+", table):
        raise ValueError(f"online.alter: a plain table name, not {table!r}")
    if context.is_offline_mode():
        op.execute(f"ALTER TABLE {table} {spec}")
        return
    conn = op.get_bind()
    url = conn.engine.url
    leftovers_removed(conn, url.database, table)  # a killed earlier run's
    try:
        run(url, table, spec, os.environ)
    finally:
        leftovers_removed(conn, url.database, table)


def leftovers_removed(conn, database: str, table: str) -> None:
    """pt-online-schema-change's triggers on ``table`` (first: they write into the
    copy), then the copy. The original table is never touched here."""
    for action in ("ins", "upd", "del"):
        conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS `pt_osc_{database}_{table}_{action}`")
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS `_{table}_new`")


def option(value: str) -> str:
    """A defaults file's quoted value (a bare one ends at a '#')."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def run(url, table: str, spec: str, env) -> None:
    """pt-online-schema-change against the database of SQLAlchemy ``url``; its password
    and TLS settings in a 0600 defaults file, never on its command line."""
    with tempfile.NamedTemporaryFile("w", prefix="online-", suffix=".cnf") as cnf:
        lines = ["[client]", f"user={option(url.username)}"]
        if url.password:
            lines.append(f"password={option(url.password)}")
        if env.get("TLS_CA"):
            lines += [f"ssl-ca={env['TLS_CA']}", "ssl-verify-server-cert"]
        cnf.write("\n".join(lines) + "\n")
        cnf.flush()
        socket = url.query.get("unix_socket")
        where = f"S={socket}" if socket else f"h={url.host},P={url.port or 3306}"
        argv = ["pt-online-schema-change", "--execute", "--no-version-check", "--alter", spec,
                f"F={cnf.name},{where},D={url.database},t={table}",
                "--recursion-method", "none", "--chunk-time", str(CHUNK_TIME), "--progress", "time,5",
                "--set-vars", f"lock_wait_timeout={int(env.get('ONLINE_CUTOVER_WAIT', 2))}",
                "--tries", f"swap_tables:{CUTOVER_TRIES}:1",
                "--max-load", f"Threads_running={int(env.get('ONLINE_MAX_LOAD', 25))}",
                "--critical-load", f"Threads_running={int(env.get('ONLINE_CRITICAL_LOAD', 50))}"]
        if env.get("ONLINE_REPLICA"):
            # pt-online-schema-change pauses while the lag is above --max-lag, in whole seconds
            argv += ["--check-slave-lag", f"F={cnf.name},h={env['ONLINE_REPLICA']},P={url.port or 3306}",
                     "--max-lag", str(max(0, int(env.get("ONLINE_MAX_LAG", 1)) - 1))]
        tool = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        stopped = []

        def stop(signum, frame):  # pt-online-schema-change removes its triggers and copy itself
            stopped.append(signal.Signals(signum).name)
            tool.send_signal(signal.SIGTERM)

        before = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
        try:
            out, _ = tool.communicate()
        finally:
            for s, handler in before.items():
                signal.signal(s, handler)
    print(out, end="")
    if tool.returncode != 0 or stopped:
        why = f"stopped by {stopped[0]}" if stopped else f"exit {tool.returncode}"
        raise RuntimeError(f"online change of {table} failed ({why}); the table is as it was:\n"
                           + "\n".join(out.strip().splitlines()[-8:]))
