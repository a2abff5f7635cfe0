"""stack-mysql replica: seeded from a consistent dump of the primary, then replicating over TLS."""

from __future__ import annotations

import os
import subprocess
import time

from .server import SYSTEM_DATABASES, Failure, connect, q

# TLS to the primary, its certificate checked against the internal CA and its address
SOURCE_TLS = "CHANGE MASTER TO MASTER_SSL=1, MASTER_SSL_CA=%s, MASTER_SSL_VERIFY_SERVER_CERT=1"


def replica_status(cur) -> dict | None:
    cur.execute("SHOW SLAVE STATUS")
    return cur.fetchone()


def replicating(status) -> bool:
    # "Connecting" is what a replica shows for a moment after its own restart.
    return (bool(status) and status["Slave_IO_Running"] in ("Yes", "Connecting")
            and status["Slave_SQL_Running"] == "Yes")


def encrypted(status) -> bool:
    return bool(status) and all(status.get(k) == "Yes"
                                for k in ("Master_SSL_Allowed", "Master_SSL_Verify_Server_Cert"))


def replica(desired, ensure: bool, timeout: float = 60, reseed: bool = False) -> int:
    src = desired["replication"]
    with connect(desired) as conn, conn.cursor() as cur:
        if reseed:  # the primary was restored: what this replica holds follows nothing any more
            unseed(cur)
        status = replica_status(cur)
        if replicating(status) and encrypted(status):
            print(f"replicating from {status.get('Master_Host')} over TLS")
            return 0
        if not ensure:
            print("not replicating" + (" over TLS" if replicating(status) else
                                       f": {status.get('Last_IO_Error') or status.get('Last_SQL_Error')}"
                                       if status else " (never set up)"))
            return 1
        if status and not encrypted(status):
            # Set up before TLS, replicating or refused by a primary that now requires it:
            # switched over, nothing seeded again.
            cur.execute("STOP SLAVE")
            cur.execute(SOURCE_TLS, (src["ca"],))
            cur.execute("START SLAVE")
            wait_until_replicating(cur, timeout)
            print(f"replicating from {src['host']}, now over TLS")
            return 0
        if status:
            # Set up before but broken: that needs a person, not an automatic re-seed.
            raise Failure("replication is configured but not running: "
                          f"IO={status['Slave_IO_Running']} SQL={status['Slave_SQL_Running']} "
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
            seed(desired)
            cur.execute("CHANGE MASTER TO MASTER_HOST=%s, MASTER_PORT=%s, MASTER_USER=%s, "
                        "MASTER_PASSWORD=%s, MASTER_USE_GTID=slave_pos",
                        (src["host"], src["port"], src["user"], src["password"]))
            cur.execute(SOURCE_TLS, (src["ca"],))
            cur.execute("START SLAVE")
            wait_until_replicating(cur, timeout)
        except Exception:
            # Back to the state we found: no replication, no databases (there were
            # none), so the next run can simply seed again.
            unseed(cur)
            raise
        print(f"replicating from {src['host']}")
        return 0


def wait_until_replicating(cur, timeout):
    deadline = time.monotonic() + timeout
    status = None
    while time.monotonic() < deadline:
        status = replica_status(cur)
        if status and status["Slave_IO_Running"] == "Yes" and status["Slave_SQL_Running"] == "Yes":
            return
        time.sleep(1)
    why = ((status.get("Last_IO_Error") or status.get("Last_SQL_Error") or "no error reported") if status
           else "the server reports no replica status at all")
    raise Failure(f"replication did not start within {timeout:.0f}s: {why}")


def unseed(cur):
    cur.execute("STOP SLAVE")
    cur.execute("RESET SLAVE ALL")
    cur.execute("SET SESSION sql_log_bin = 0")
    cur.execute("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA")
    for name in sorted({r["SCHEMA_NAME"] for r in cur.fetchall()} - SYSTEM_DATABASES):
        cur.execute(f"DROP DATABASE {q(name)}")
    cur.execute("RESET MASTER")


def seed(desired):
    """Dump the primary consistently (with its GTID position) straight into this server."""
    src = desired["replication"]
    # The dump user's password goes in an option file readable by root only.
    opt = "/etc/stack/mysql-seed.cnf"
    fd = os.open(opt, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"[client]\nuser={src['seed_user']}\npassword=\"{src['seed_password']}\"\n"
                f"host={src['host']}\nport={src['port']}\nssl-ca={src['ca']}\nssl-verify-server-cert\n")
    try:
        dump = subprocess.Popen(
            ["mariadb-dump", f"--defaults-extra-file={opt}", "--single-transaction", "--routines",
             "--triggers", "--events", "--all-databases", "--flush-privileges", "--gtid", "--master-data=1"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        # Not binlogged here: the rows carry the primary's GTIDs, not new ones.
        load = subprocess.run(["mariadb", f"--socket={desired['socket']}",
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
