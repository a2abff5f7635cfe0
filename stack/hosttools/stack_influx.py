#!/usr/bin/python3
"""stack-influx: InfluxDB 1.x setup, and the ops metrics every flow writes.

Installed by tasks/influxdb.py; reads /etc/stack/influxdb.json (0600). Secrets
travel in HTTP request bodies to the server, never on a command line.

    stack-influx setup --check     exit 1 (and list the changes) if not in sync
    stack-influx setup --apply     admin user, database, retention policy, writer
    stack-influx write MEASUREMENT tag=value ... field=value ...

MEASUREMENTS below is the one definition of what ops flows write: the writers
check against it, and the dashboards' queries are tested against it.

Standalone on purpose: Python 3 only.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import urllib.error
import urllib.parse
import urllib.request

CONFIG = "/etc/stack/influxdb.json"

# measurement -> tags and fields (field -> type) that the ops flows write
MEASUREMENTS = {
    "deployment": {"tags": ["environment", "release"], "fields": {"duration_s": float, "success": int}},
    "backup": {"tags": ["environment", "host", "kind"],
               "fields": {"duration_s": float, "success": int, "size_bytes": int}},
    "migration": {"tags": ["environment", "release"], "fields": {"duration_s": float, "success": int}},
    "rollback": {"tags": ["environment", "release"], "fields": {"duration_s": float, "success": int}},
}


class Failure(Exception):
    pass


def line(measurement: str, tags: dict, fields: dict) -> str:
    """One point in line protocol, checked against MEASUREMENTS."""
    spec = MEASUREMENTS.get(measurement)
    if spec is None:
        raise Failure(f"unknown measurement {measurement!r}; known: {sorted(MEASUREMENTS)}")
    unknown = (set(tags) - set(spec["tags"])) | (set(fields) - set(spec["fields"]))
    if unknown or not fields:
        raise Failure(f"{measurement}: unknown or missing names {sorted(unknown) or 'fields'}")

    def esc(v):
        return str(v).replace("\\", "\\\\").replace(",", "\\,").replace(" ", "\\ ").replace("=", "\\=")

    tag_part = "".join(f",{esc(k)}={esc(v)}" for k, v in sorted(tags.items()))
    values = []
    for k, v in sorted(fields.items()):
        kind = spec["fields"][k]
        values.append(f"{esc(k)}={int(v)}i" if kind is int else f"{esc(k)}={float(v)}")
    return f"{measurement}{tag_part} {','.join(values)}"


class Influx:
    def __init__(self, cfg: dict):
        self.cfg = cfg
        self.base = cfg["url"].rstrip("/")

    def request(self, path: str, params: dict, user: str | None = None, password: str | None = None,
                body: bytes | None = None) -> tuple[int, dict | str]:
        req = urllib.request.Request(f"{self.base}{path}?{urllib.parse.urlencode(params)}" if body else
                                     f"{self.base}{path}", data=body or urllib.parse.urlencode(params).encode())
        if user:
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            req.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                text = resp.read().decode()
                return resp.status, json.loads(text) if text.startswith("{") else text
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def query(self, q: str, as_admin=True) -> list:
        status, out = self.request("/query", {"q": q}, *self.admin() if as_admin else (None, None))
        if status != 200 or "error" in json.dumps(out):
            raise Failure(f"{q.split(' WITH PASSWORD')[0]}: HTTP {status} {str(out)[:200]}")
        return out["results"][0].get("series", [])

    def admin(self):
        return self.cfg["admin_user"], self.cfg["admin_password"]

    def can_login(self, user, password) -> bool:
        return self.request("/query", {"q": "SHOW DATABASES"}, user, password)[0] == 200

    def no_users_yet(self) -> bool:
        # With auth on and no user at all, InfluxDB refuses everything but creating the admin.
        status, out = self.request("/query", {"q": "SHOW USERS"})
        return status == 403 and "create admin user first" in str(out)

    # -- setup ------------------------------------------------------------------
    def statements(self) -> list[str]:
        c = self.cfg
        if self.no_users_yet():
            return [f"CREATE USER {q(c['admin_user'])} WITH PASSWORD {s(c['admin_password'])} WITH ALL PRIVILEGES",
                    *self.statements_after_admin(databases=[], users={}, rps=[], grants={})]
        if not self.can_login(*self.admin()):
            raise Failure("the admin password in the secrets does not work; InfluxDB keeps the old one: "
                          "reset it on the host (influx -execute \"SET PASSWORD ...\") and run again")
        databases = [r[0] for serie in self.query("SHOW DATABASES") for r in serie.get("values", [])]
        users = {r[0]: r[1] for serie in self.query("SHOW USERS") for r in serie.get("values", [])}
        rps = ([r for serie in self.query(f"SHOW RETENTION POLICIES ON {q(c['database'])}")
                for r in serie.get("values", [])] if c["database"] in databases else [])
        grants = ({r[0]: r[1] for serie in self.query(f"SHOW GRANTS FOR {q(c['writer_user'])}")
                   for r in serie.get("values", [])} if c["writer_user"] in users else {})
        return self.statements_after_admin(databases, users, rps, grants)

    def statements_after_admin(self, databases, users, rps, grants) -> list[str]:
        c, out = self.cfg, []
        db, rp, duration = c["database"], c["retention_policy"], c["retention"]
        if db not in databases:
            out.append(f"CREATE DATABASE {q(db)}")
        current = next((r for r in rps if r[0] == rp), None)
        if current is None:
            out.append(f"CREATE RETENTION POLICY {q(rp)} ON {q(db)} DURATION {duration} REPLICATION 1 DEFAULT")
        elif current[1] != c["retention_shown"] or not current[-1]:
            out.append(f"ALTER RETENTION POLICY {q(rp)} ON {q(db)} DURATION {duration} DEFAULT")
        writer, password = c["writer_user"], c["writer_password"]
        if writer not in users:
            out.append(f"CREATE USER {q(writer)} WITH PASSWORD {s(password)}")
        elif not self.can_login(writer, password):
            out.append(f"SET PASSWORD FOR {q(writer)} = {s(password)}")
        if grants.get(db) != "WRITE":
            out.append(f"GRANT WRITE ON {q(db)} TO {q(writer)}")
        return out

    def setup(self, apply: bool) -> int:
        todo = self.statements()
        for st in todo:
            print(("apply: " if apply else "needed: ") + st.split(" WITH PASSWORD")[0].split(" = '")[0])
        if apply:
            for st in todo:
                self.query(st, as_admin=not st.startswith("CREATE USER " + q(self.cfg["admin_user"])))
            left = self.statements()
            if left:
                raise Failure(f"still out of sync after applying: {len(left)} statement(s)")
        return 1 if todo and not apply else 0

    def write(self, point: str):
        c = self.cfg
        status, out = self.request("/write", {"db": c["database"], "rp": c["retention_policy"], "precision": "s"},
                                   c["writer_user"], c["writer_password"], body=point.encode())
        if status != 204:
            raise Failure(f"write failed: HTTP {status} {str(out)[:200]}")


def q(name: str) -> str:
    return '"' + name.replace('"', '\\"') + '"'


def s(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def parse_pairs(pairs: list[str], spec: dict) -> tuple[dict, dict]:
    tags, fields = {}, {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        (fields if key in spec["fields"] else tags)[key] = value
    return tags, fields


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="stack-influx", description=__doc__.split("\n")[0])
    p.add_argument("--config", default=CONFIG)
    sub = p.add_subparsers(dest="cmd", required=True)
    sp = sub.add_parser("setup")
    mode = sp.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true")
    mode.add_argument("--apply", action="store_true")
    wp = sub.add_parser("write")
    wp.add_argument("measurement")
    wp.add_argument("pairs", nargs="+", help="tag=value and field=value")
    args = p.parse_args(argv)
    with open(args.config) as f:
        influx = Influx(json.load(f))
    try:
        if args.cmd == "setup":
            return influx.setup(apply=args.apply)
        spec = MEASUREMENTS.get(args.measurement, {"fields": {}})
        influx.write(line(args.measurement, *parse_pairs(args.pairs, spec)))
    except Failure as e:
        print(f"stack-influx: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
