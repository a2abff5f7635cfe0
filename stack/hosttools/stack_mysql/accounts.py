"""stack-mysql accounts: databases, users and grants brought in line with the desired state."""

from __future__ import annotations

import re

from .server import SYSTEM_ACCOUNTS, SYSTEM_DATABASES, Failure, account, connect, q

# SHOW GRANTS prints these names for what the data may call otherwise.
ALIASES = {"REPLICATION CLIENT": "BINLOG MONITOR"}


# -- grants -----------------------------------------------------------------------
def parse_grants(lines) -> dict[str, set[str]]:
    """SHOW GRANTS lines -> {object: {privileges}}; USAGE-only lines give nothing."""
    grants: dict[str, set[str]] = {}
    for line in lines:
        m = re.match(r"GRANT (.+?) ON (\S+) TO ", line)
        if not m or line.startswith("GRANT PROXY"):
            continue
        privs = {ALIASES.get(p.strip(), p.strip()) for p in m.group(1).split(",")} - {"USAGE"}
        if privs:
            obj = m.group(2).replace("`", "")
            grants.setdefault(obj, set()).update(privs)
    return grants


def wanted_grants(user: dict) -> dict[str, set[str]]:
    return {obj.replace("`", ""): {ALIASES.get(p, p) for p in privs} for obj, privs in user["grants"].items()}


def grantable(want: dict[str, set[str]], tables: set[str]) -> dict[str, set[str]]:
    """What can be granted now: a grant on one table waits until the table exists
    (MariaDB refuses it before; the migrations make the app's tables after the
    accounts, and the migration flow applies the accounts again)."""
    return {obj: privs for obj, privs in want.items() if obj.endswith(".*") or obj in tables}


def quoted_object(obj: str) -> str:
    db, _, table = obj.partition(".")
    return ".".join(part if part == "*" else q(part) for part in (db, table))


# -- accounts: compute the statements that bring the server in line --------------------
def account_statements(desired, current) -> list[tuple[str, tuple]]:
    """current: {"users": {(user, host): create_user_sql}, "grants": {(user, host): [lines]},
    "databases": {name: (charset, collation)}}. Returns [(sql, params)]; params hold
    what must not be interpolated by hand (there are no plaintext secrets here:
    passwords arrive as mysql_native_password hashes)."""
    out: list[tuple[str, tuple]] = []
    for db in desired["databases"]:
        want = (db["charset"], db["collation"])
        if db["name"] not in current["databases"]:
            out.append((f"CREATE DATABASE {q(db['name'])} CHARACTER SET {want[0]} COLLATE {want[1]}", ()))
        elif current["databases"][db["name"]] != want:
            out.append((f"ALTER DATABASE {q(db['name'])} CHARACTER SET {want[0]} COLLATE {want[1]}", ()))
    if "test" in current["databases"]:
        out.append(("DROP DATABASE `test`", ()))

    # root: over the socket, with the root password as a local fallback.
    root_sql = current["users"].get(("root", "localhost"), "")
    if "unix_socket" not in root_sql or desired["root_auth"] not in root_sql:
        out.append(("ALTER USER root@localhost IDENTIFIED VIA unix_socket OR mysql_native_password "
                    "USING %s", (desired["root_auth"],)))

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
            out.append((f"CREATE USER {acct} IDENTIFIED BY PASSWORD %s{require}", (u["auth"],)))
        else:
            if u["auth"] not in sql:
                out.append((f"ALTER USER {acct} IDENTIFIED BY PASSWORD %s", (u["auth"],)))
            if bool(require) != ("REQUIRE SSL" in sql):
                out.append((f"ALTER USER {acct} REQUIRE {'SSL' if require else 'NONE'}", ()))
        have = parse_grants(current["grants"].get(key, []))
        want = grantable(wanted_grants(u), current.get("tables", set()))
        if have != want:
            if have:
                out.append((f"REVOKE ALL PRIVILEGES, GRANT OPTION FROM {acct}", ()))
            for obj, privs in sorted(want.items()):
                out.append((f"GRANT {', '.join(sorted(privs))} ON {quoted_object(obj)} TO {acct}", ()))
    return out


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
    cur.execute("SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES")
    tables = {f"{r['TABLE_SCHEMA']}.{r['TABLE_NAME']}" for r in cur.fetchall() if r["TABLE_SCHEMA"] in databases}
    return {"users": users, "grants": grants, "databases": databases, "tables": tables}


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
