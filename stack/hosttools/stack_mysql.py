#!/usr/bin/python3
"""stack-mysql: bring a MySQL/MariaDB server to the state in a desired-state file.

Installed on db hosts by tasks/mysql.py and run there as root. It talks to the
server over the unix socket as root (no password anywhere), reads every secret
from the 0600 desired-state file, and never puts one on a command line.

    stack-mysql accounts --check   exit 1 (and list the changes) if not in sync
    stack-mysql accounts --apply   databases, users, grants, secure installation
    stack-mysql replica --check    exit 0 if replicating, 1 if not
    stack-mysql replica --ensure   seed from the primary and start replicating
    stack-mysql replica --reseed   drop what this replica holds, then seed again (after a restore)

Standalone on purpose: Python 3 and python3-pymysql, nothing from this repo.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time

DESIRED = "/etc/stack/mysql.json"

# SQL that differs between the flavours. tasks/mysql.py decides the flavour.
DIALECT = {
    "mariadb": {
        "client": "mariadb",
        "dump": "mariadb-dump",
        "socket_plugin": "unix_socket",
        "replica_status": "SHOW SLAVE STATUS",
        "stop_replica": "STOP SLAVE",
        "reset_replica": "RESET SLAVE ALL",
        "start_replica": "START SLAVE",
        "change_source": ("CHANGE MASTER TO MASTER_HOST=%s, MASTER_PORT=%s, MASTER_USER=%s, "
                          "MASTER_PASSWORD=%s, MASTER_USE_GTID=slave_pos"),
        # TLS to the primary, its certificate checked against the internal CA and its address
        "source_tls": "CHANGE MASTER TO MASTER_SSL=1, MASTER_SSL_CA=%s, MASTER_SSL_VERIFY_SERVER_CERT=1",
        "tls_in_use": ("Master_SSL_Allowed", "Master_SSL_Verify_Server_Cert"),
        "client_verify": "ssl-verify-server-cert",  # the client's option file: name and address checked
        "io_running": "Slave_IO_Running",
        "sql_running": "Slave_SQL_Running",
        "dump_position": ["--gtid", "--master-data=1"],
        # SHOW GRANTS prints these names for what the data may call otherwise.
        "aliases": {"REPLICATION CLIENT": "BINLOG MONITOR"},
    },
    "mysql": {
        "client": "mysql",
        "dump": "mysqldump",
        "socket_plugin": "auth_socket",
        "replica_status": "SHOW REPLICA STATUS",
        "stop_replica": "STOP REPLICA",
        "reset_replica": "RESET REPLICA ALL",
        "start_replica": "START REPLICA",
        "change_source": ("CHANGE REPLICATION SOURCE TO SOURCE_HOST=%s, SOURCE_PORT=%s, SOURCE_USER=%s, "
                          "SOURCE_PASSWORD=%s, SOURCE_AUTO_POSITION=1, GET_SOURCE_PUBLIC_KEY=1"),
        "source_tls": ("CHANGE REPLICATION SOURCE TO SOURCE_SSL=1, SOURCE_SSL_CA=%s, "
                       "SOURCE_SSL_VERIFY_SERVER_CERT=1"),
        "tls_in_use": ("Source_SSL_Allowed", "Source_SSL_Verify_Server_Cert"),
        "client_verify": "ssl-mode=VERIFY_IDENTITY",
        "io_running": "Replica_IO_Running",
        "sql_running": "Replica_SQL_Running",
        "dump_position": ["--set-gtid-purged=ON", "--source-data=1"],
        "aliases": {},
    },
}
SYSTEM_DATABASES = {"mysql", "information_schema", "performance_schema", "sys"}
# Accounts the server itself owns; everything else is ours or unwanted.
SYSTEM_ACCOUNTS = {("mariadb.sys", "localhost"), ("mysql", "localhost"), ("mysql.sys", "localhost"),
                   ("mysql.session", "localhost"), ("mysql.infoschema", "localhost"), ("debian-sys-maint", "localhost")}


class Failure(Exception):
    pass


def connect(desired):
    import pymysql

    return pymysql.connect(unix_socket=desired["socket"], user="root", autocommit=True,
                           cursorclass=pymysql.cursors.DictCursor)


def q(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def account(user: str, host: str) -> str:
    return f"{q(user)}@{q(host)}"


# -- grants -----------------------------------------------------------------------
def parse_grants(lines, aliases) -> dict[str, set[str]]:
    """SHOW GRANTS lines -> {object: {privileges}}; USAGE-only lines give nothing."""
    grants: dict[str, set[str]] = {}
    for line in lines:
        m = re.match(r"GRANT (.+?) ON (\S+) TO ", line)
        if not m or line.startswith("GRANT PROXY"):
            continue
        privs = {aliases.get(p.strip(), p.strip()) for p in m.group(1).split(",")} - {"USAGE"}
        if privs:
            obj = m.group(2).replace("`", "")
            grants.setdefault(obj, set()).update(privs)
    return grants


def wanted_grants(user: dict, aliases) -> dict[str, set[str]]:
    return {obj.replace("`", ""): {aliases.get(p, p) for p in privs} for obj, privs in user["grants"].items()}


def quoted_object(obj: str) -> str:
    db, _, table = obj.partition(".")
    return ".".join(part if part == "*" else q(part) for part in (db, table))


# -- accounts: compute the statements that bring the server in line --------------------
def account_statements(desired, current) -> list[tuple[str, tuple]]:
    """current: {"users": {(user, host): create_user_sql}, "grants": {(user, host): [lines]},
    "databases": {name: (charset, collation)}}. Returns [(sql, params)]; params hold
    what must not be interpolated by hand (there are no plaintext secrets here:
    passwords arrive as mysql_native_password hashes)."""
    d = DIALECT[desired["flavour"]]
    out: list[tuple[str, tuple]] = []
    for db in desired["databases"]:
        want = (db["charset"], db["collation"])
        if db["name"] not in current["databases"]:
            out.append((f"CREATE DATABASE {q(db['name'])} CHARACTER SET {want[0]} COLLATE {want[1]}", ()))
        elif current["databases"][db["name"]] != want:
            out.append((f"ALTER DATABASE {q(db['name'])} CHARACTER SET {want[0]} COLLATE {want[1]}", ()))
    if "test" in current["databases"]:
        out.append(("DROP DATABASE `test`", ()))

    # root: over the socket; on MariaDB with the root password as a local fallback.
    # MySQL has one plugin per account, so there root has the socket and no hash.
    root_sql = current["users"].get(("root", "localhost"), "")
    root_in_place = d["socket_plugin"] in root_sql and (
        desired["root_auth"] in root_sql if desired["flavour"] == "mariadb" else "mysql_native_password" not in root_sql)
    if not root_in_place:
        if desired["flavour"] == "mariadb":
            out.append(("ALTER USER root@localhost IDENTIFIED VIA unix_socket OR mysql_native_password "
                        "USING %s", (desired["root_auth"],)))
        else:  # MySQL has one plugin per account: the socket.
            out.append(("ALTER USER root@localhost IDENTIFIED WITH auth_socket", ()))

    wanted = {(u["name"], u["host"]): u for u in desired["users"]}
    ours = {u["name"] for u in desired["users"]}
    for (user, host) in sorted(current["users"]):
        if (user, host) in wanted or (user, host) in SYSTEM_ACCOUNTS or (user, host) == ("root", "localhost"):
            continue
        # anonymous, '%'-host, remote root, and our users on hosts no longer listed
        if user == "" or host == "%" or user == "root" or user in ours:
            out.append((f"DROP USER {account(user, host)}", ()))

    for key, u in wanted.items():
        acct = account(*key)
        sql = current["users"].get(key)
        require = " REQUIRE SSL" if u.get("require_ssl") else ""
        if sql is None:
            out.append((f"CREATE USER {acct} IDENTIFIED {auth_clause(desired)}{require}", (u["auth"],)))
        else:
            if u["auth"] not in sql:
                out.append((f"ALTER USER {acct} IDENTIFIED {auth_clause(desired)}", (u["auth"],)))
            if bool(require) != ("REQUIRE SSL" in sql):
                out.append((f"ALTER USER {acct} REQUIRE {'SSL' if require else 'NONE'}", ()))
        have = parse_grants(current["grants"].get(key, []), d["aliases"])
        want = wanted_grants(u, d["aliases"])
        if have != want:
            if have:
                out.append((f"REVOKE ALL PRIVILEGES, GRANT OPTION FROM {acct}", ()))
            for obj, privs in sorted(want.items()):
                out.append((f"GRANT {', '.join(sorted(privs))} ON {quoted_object(obj)} TO {acct}", ()))
    return out


def auth_clause(desired) -> str:
    if desired["flavour"] == "mariadb":
        return "BY PASSWORD %s"
    return "WITH mysql_native_password AS %s"


def read_current(cur) -> dict:
    cur.execute("SELECT User, Host FROM mysql.user")
    users = {}
    grants = {}
    for row in cur.fetchall():
        key = (row["User"], row["Host"])
        cur.execute(f"SHOW CREATE USER {account(*key)}")
        users[key] = list(cur.fetchone().values())[0]
        cur.execute(f"SHOW GRANTS FOR {account(*key)}")
        grants[key] = [list(r.values())[0] for r in cur.fetchall()]
    cur.execute("SELECT SCHEMA_NAME, DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME "
                "FROM information_schema.SCHEMATA")
    databases = {r["SCHEMA_NAME"]: (r["DEFAULT_CHARACTER_SET_NAME"], r["DEFAULT_COLLATION_NAME"])
                 for r in cur.fetchall() if r["SCHEMA_NAME"] not in SYSTEM_DATABASES}
    return {"users": users, "grants": grants, "databases": databases}


def accounts(desired, apply: bool) -> int:
    with connect(desired) as conn, conn.cursor() as cur:
        statements = account_statements(desired, read_current(cur))
        for sql, _ in statements:
            print(("apply: " if apply else "needed: ") + sql)
        if apply:
            for sql, params in statements:
                cur.execute(sql, params or None)
            if statements:
                cur.execute("FLUSH PRIVILEGES")
                left = account_statements(desired, read_current(cur))
                if left:
                    raise Failure(f"still out of sync after applying: {[s for s, _ in left]}")
    return 1 if statements and not apply else 0


# -- replication ------------------------------------------------------------------------------
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


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="stack-mysql", description=__doc__.split("\n")[0])
    p.add_argument("--desired", default=DESIRED)
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("accounts", "replica"):
        sp = sub.add_parser(name)
        mode = sp.add_mutually_exclusive_group(required=True)
        mode.add_argument("--check", action="store_true")
        mode.add_argument("--apply" if name == "accounts" else "--ensure", action="store_true", dest="act")
        if name == "replica":
            mode.add_argument("--reseed", action="store_true")
    args = p.parse_args(argv)
    with open(args.desired) as f:
        desired = json.load(f)
    try:
        if args.cmd == "accounts":
            return accounts(desired, apply=args.act)
        return replica(desired, ensure=args.act or args.reseed, reseed=args.reseed)
    except Failure as e:
        print(f"stack-mysql: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
