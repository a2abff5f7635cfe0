"""stack-mysql replica: seeded from a consistent dump of the primary, then replicating over TLS."""

from __future__ import annotations

import os
import subprocess
import time

from .dialect import DIALECT, SYSTEM_DATABASES, Failure, connect, q


def replica_status(cur, d) -> dict | None:
    cur.execute(d["replica_status"])
    return cur.fetchone()


def replicating(status, d) -> bool:
    # "Connecting" is what a replica shows for a moment after its own restart.
    return (bool(status) and status[d["io_running"]] in ("Yes", "Connecting")
            and status[d["sql_running"]] == "Yes")


def encrypted(status, d) -> bool:
    return bool(status) and all(status.get(k) == "Yes" for k in d["tls_in_use"])


def replica(desired, ensure: bool, timeout: float = 60, reseed: bool = False) -> int:
    d = DIALECT[desired["flavour"]]
    src = desired["replication"]
    with connect(desired) as conn, conn.cursor() as cur:
        if reseed:  # the primary was restored: what this replica holds follows nothing any more
            unseed(cur, d)
        status = replica_status(cur, d)
        if replicating(status, d) and encrypted(status, d):
            print(f"replicating from {status.get('Master_Host') or status.get('Source_Host')} over TLS")
            return 0
        if not ensure:
            print("not replicating" + (" over TLS" if replicating(status, d) else
                                       f": {status.get('Last_IO_Error') or status.get('Last_SQL_Error')}"
                                       if status else " (never set up)"))
            return 1
        if status and not encrypted(status, d):
            # Set up before TLS, replicating or refused by a primary that now requires it:
            # switched over, nothing seeded again.
            cur.execute(d["stop_replica"])
            cur.execute(d["source_tls"], (src["ca"],))
            cur.execute(d["start_replica"])
            wait_until_replicating(cur, d, timeout)
            print(f"replicating from {src['host']}, now over TLS")
            return 0
        if status:
            # Set up before but broken: that needs a person, not an automatic re-seed.
            raise Failure("replication is configured but not running: "
                          f"IO={status[d['io_running']]} SQL={status[d['sql_running']]} "
                          f"{status.get('Last_IO_Error') or ''} {status.get('Last_SQL_Error') or ''}".strip())
        cur.execute("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA")
        user_dbs = sorted({r["SCHEMA_NAME"] for r in cur.fetchall()} - SYSTEM_DATABASES)
        if user_dbs:
            raise Failure(f"this replica is not replicating but holds databases {user_dbs}; "
                          "refusing to overwrite them with a seed from the primary")
        print(f"seeding from a consistent dump of {src['host']}:{src['port']}")
        # A fresh replica's own binlog holds nothing of value, and its GTIDs would
        # conflict with the primary's position the dump sets.
        cur.execute("RESET MASTER")
        try:
            seed(desired, d)
            cur.execute(d["change_source"], (src["host"], src["port"], src["user"], src["password"]))
            cur.execute(d["source_tls"], (src["ca"],))
            cur.execute(d["start_replica"])
            wait_until_replicating(cur, d, timeout)
        except Exception:
            # Back to the state we found: no replication, no databases (there were
            # none), so the next run can simply seed again.
            unseed(cur, d)
            raise
        print(f"replicating from {src['host']}")
        return 0


def wait_until_replicating(cur, d, timeout):
    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        status = replica_status(cur, d)
        if status and status[d["io_running"]] == "Yes" and status[d["sql_running"]] == "Yes":
            return
        time.sleep(1)
    why = ((status.get("Last_IO_Error") or status.get("Last_SQL_Error") or "no error reported") if status
           else "the server reports no replica status at all")
    raise Failure(f"replication did not start within {timeout:.0f}s: {why}")


def unseed(cur, d):
    cur.execute(d["stop_replica"])
    cur.execute(d["reset_replica"])
    cur.execute("SET SESSION sql_log_bin = 0")
    cur.execute("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA")
    for name in sorted({r["SCHEMA_NAME"] for r in cur.fetchall()} - SYSTEM_DATABASES):
        cur.execute(f"DROP DATABASE {q(name)}")
    cur.execute("RESET MASTER")


def seed(desired, d):
    """Dump the primary consistently (with its GTID position) straight into this server."""
    src = desired["replication"]
    # The dump user's password goes in an option file readable by root only.
    opt = "/etc/stack/mysql-seed.cnf"
    fd = os.open(opt, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"[client]\nuser={src['seed_user']}\npassword=\"{src['seed_password']}\"\n"
                f"host={src['host']}\nport={src['port']}\nssl-ca={src['ca']}\n{d['client_verify']}\n")
    try:
        dump = subprocess.Popen(
            [d["dump"], f"--defaults-extra-file={opt}", "--single-transaction", "--routines", "--triggers",
             "--events", "--all-databases", "--flush-privileges", *d["dump_position"]],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        # Not binlogged here: the rows carry the primary's GTIDs, not new ones.
        load = subprocess.run([d["client"], f"--socket={desired['socket']}",
                               "--init-command=SET SESSION sql_log_bin=0"], stdin=dump.stdout,
                              capture_output=True, text=True)
        dump.stdout.close()
        dump_err = dump.stderr.read().decode()
        if dump.wait() != 0:
            raise Failure(f"dump of the primary failed: {dump_err.strip()}")
        if load.returncode != 0:
            raise Failure(f"loading the primary's dump failed: {load.stderr.strip()}")
    finally:
        os.unlink(opt)
