#!/usr/bin/python3
"""stack-influx: InfluxDB setup (1.x and 2.x), and the ops metrics every flow writes.

Installed by tasks/influxdb.py; reads /etc/stack/influxdb.json (0600). Secrets
travel in HTTP request bodies and headers, never on a command line.

    stack-influx setup --check     exit 1 (and list the changes) if not in sync
    stack-influx setup --apply     1.x: admin user, database, retention policy, writer
                                   2.x: onboarding (org, bucket, operator token),
                                        retention, DBRP mapping, writer
    stack-influx write MEASUREMENT tag=value ... field=value ...

Writers (this program, Telegraf) use the v1 write API in both majors, with the
write-only writer account: no host but the monitoring host holds a token that
can read or administer. A point with success=0 is also posted to the webhook
in the config (``webhook_url``), when there is one.

MEASUREMENTS below is the one definition of what ops flows write: the writers
check against it, and the dashboards' queries are tested against it.

Standalone on purpose: Python 3 only.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import ssl
import re
import sys
import urllib.error
import urllib.parse
import urllib.request

CONFIG = "/etc/stack/influxdb.json"

# measurement -> tags and fields (field -> type) that the ops flows write
MEASUREMENTS = {
    "deployment": {"tags": ["environment", "release"], "fields": {"duration_s": float, "success": int}},
    # tasks/migrate.py (and deploy.py's migrations): the release whose revisions ran
    "migration": {"tags": ["environment", "release", "from_revision", "to_revision"],
                  "fields": {"duration_s": float, "success": int}},
    # tasks/rollback.py: release is the one rolled back to
    "rollback": {"tags": ["environment", "release"], "fields": {"duration_s": float, "success": int}},
    # stack-backup run, on the backup source host (its timer, or tasks/backup.py)
    "backup": {"tags": ["environment", "host", "method"],
               "fields": {"duration_s": float, "size_bytes": int, "success": int}},
    # stack-backup swap (tasks/restore.py, kind=restore) and drill (tasks/restore_drill.py):
    # duration_s is the RTO, from the start of the staging to the rows checked
    "restore": {"tags": ["environment", "host", "kind", "method"], "fields": {"duration_s": float, "success": int}},
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
        # as influxdb-client escapes (tests/unit/test_stack_influx.py compares the two)
        return str(v).replace(",", "\\,").replace(" ", "\\ ").replace("=", "\\=")

    tag_part = "".join(f",{esc(k)}={esc(v)}" for k, v in sorted(tags.items()))
    values = []
    for k, v in sorted(fields.items()):
        kind = spec["fields"][k]
        try:
            values.append(f"{esc(k)}={int(v)}i" if kind is int else f"{esc(k)}={float(v)}")
        except ValueError:
            raise Failure(f"{measurement}: field {k}={v!r} is not {'a whole number' if kind is int else 'a number'}") from None
    return f"{measurement}{tag_part} {','.join(values)}"


def http(url: str, body: bytes | None = None, headers: dict | None = None, method: str | None = None,
         ca: str | None = None):
    """(status, parsed JSON or text); HTTP errors are answers, not exceptions. ``ca``:
    the CA file the server's certificate is checked against (else the system's)."""
    req = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
    context = ssl.create_default_context(cafile=ca) if ca else None
    try:
        with urllib.request.urlopen(req, timeout=10, context=context) as resp:
            text = resp.read().decode()
            return resp.status, json.loads(text) if text[:1] in "{[" and text else text
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
    except urllib.error.URLError as e:
        raise Failure(f"{origin(url)}: {e.reason}") from None


def basic(user: str, password: str) -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


class Influx:
    """What both majors share: the v1 write API with the writer, and login checks."""

    def __init__(self, cfg: dict):
        days = cfg["retention_days"]
        # the retention policy is named after its length, "90d"; SHOW shows it as "2160h0m0s"
        self.cfg = {**cfg, "retention_policy": f"{days}d", "retention_shown": f"{days * 24}h0m0s", "retention_seconds": days * 86400}
        self.base = cfg["url"].rstrip("/")

    def request(self, path: str, params: dict, user: str | None = None, password: str | None = None,
                body: bytes | None = None) -> tuple[int, dict | str]:
        url = f"{self.base}{path}?{urllib.parse.urlencode(params)}" if body else f"{self.base}{path}"
        return http(url, body or urllib.parse.urlencode(params).encode(), basic(user, password) if user else None,
                    ca=self.cfg.get("ca"))

    def query(self, q: str, as_admin=True) -> list:
        status, out = self.request("/query", {"q": q}, *self.admin() if as_admin else (None, None))
        if status != 200 or "error" in json.dumps(out):
            raise Failure(f"{redact(q)}: HTTP {status} {str(out)[:200]}")
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
        db, rp = c["database"], c["retention_policy"]  # "90d": the policy's name and its length
        if db not in databases:
            out.append(f"CREATE DATABASE {q(db)}")
        current = next((r for r in rps if r[0] == rp), None)
        if current is None:
            out.append(f"CREATE RETENTION POLICY {q(rp)} ON {q(db)} DURATION {rp} REPLICATION 1 DEFAULT")
        elif current[1] != c["retention_shown"] or not current[-1]:
            out.append(f"ALTER RETENTION POLICY {q(rp)} ON {q(db)} DURATION {rp} DEFAULT")
        writer, password = c["writer_user"], c["writer_password"]
        if writer not in users:
            out.append(f"CREATE USER {q(writer)} WITH PASSWORD {s(password)}")
        elif not self.can_login(writer, password):
            out.append(f"SET PASSWORD FOR {q(writer)} = {s(password)}")
        if grants.get(db) != "WRITE":
            out.append(f"GRANT WRITE ON {q(db)} TO {q(writer)}")
        return out

    def setup(self, apply: bool) -> int:
        """Print what is out of sync; with apply, fix it. Some steps need ids that
        earlier ones create (2.x), so apply goes round until nothing is left."""
        todo = self.todo()
        for label, _ in todo:
            print("needed: " + label)
        if not apply:
            return 1 if todo else 0
        for _ in range(3):
            for label, step in todo:
                print("apply: " + label)
                step()
            todo = self.todo()
            if not todo:
                return 0
        raise Failure(f"still out of sync after applying: {[label for label, _ in todo]}")

    def todo(self) -> list:
        """(label without secrets, step) pairs."""
        return [(redact(st),
                 lambda st=st: self.query(st, as_admin=not st.startswith("CREATE USER " + q(self.cfg["admin_user"]))))
                for st in self.statements()]

    def write(self, point: str):
        c = self.cfg
        status, out = self.request("/write", {"db": c["database"], "rp": c["retention_policy"], "precision": "s"},
                                   c["writer_user"], c["writer_password"], body=point.encode())
        if status != 204:
            raise Failure(f"write failed: HTTP {status} {str(out)[:200]}")


class Influx2(Influx):
    """InfluxDB 2.x over its HTTP API, with the operator token from the config.

    Onboarding runs once (GET /api/v2/setup says whether it still may); after it
    the bucket's retention is kept as configured, a DBRP mapping gives the v1
    APIs the database/retention-policy names of 1.x, and the writer is a v1
    authorization allowed to write that bucket and nothing else.
    """

    def api(self, method: str, path: str, body: dict | None = None, params: dict | None = None):
        url = f"{self.base}{path}" + (f"?{urllib.parse.urlencode(params)}" if params else "")
        headers = {"Content-Type": "application/json"}
        if path != "/api/v2/setup":
            headers["Authorization"] = f"Token {self.cfg['admin_password']}"
        status, out = http(url, json.dumps(body).encode() if body is not None else None, headers, method,
                           ca=self.cfg.get("ca"))
        if status >= 300:
            raise Failure(f"{method} {path}: HTTP {status} {str(out)[:200]}")
        return out

    def todo(self) -> list:
        c = self.cfg
        retention = [{"type": "expire", "everySeconds": c["retention_seconds"]}]
        if self.api("GET", "/api/v2/setup").get("allowed"):
            # the steps below need the ids onboarding creates: setup --apply goes round again
            return [("onboarding: org, bucket, operator token", lambda: self.api("POST", "/api/v2/setup", {
                "username": c["admin_user"], "password": c["admin_password"], "token": c["admin_password"],
                "org": c["org"], "bucket": c["database"], "retentionPeriodSeconds": c["retention_seconds"]}))]
        orgs = self.api("GET", "/api/v2/orgs", params={"org": c["org"]}).get("orgs", [])
        if not orgs:
            raise Failure(f"InfluxDB is set up, but without the organisation {c['org']!r}")
        org = orgs[0]["id"]
        buckets = self.api("GET", "/api/v2/buckets", params={"orgID": org, "name": c["database"]}).get("buckets", [])
        if not buckets:
            return [(f"bucket {c['database']}", lambda: self.api("POST", "/api/v2/buckets", {
                "orgID": org, "name": c["database"], "retentionRules": retention}))]
        bucket, out = buckets[0], []
        if [r.get("everySeconds") for r in bucket.get("retentionRules", [])] != [c["retention_seconds"]]:
            out.append((f"bucket {c['database']} retention", lambda: self.api(
                "PATCH", f"/api/v2/buckets/{bucket['id']}", {"retentionRules": retention})))
        return out + self.after_onboarding(org, bucket["id"])

    def after_onboarding(self, org: str, bucket: str) -> list:
        """Steps that need the org's and bucket's ids."""
        c, out = self.cfg, []
        dbrps = self.api("GET", "/api/v2/dbrps", params={"orgID": org, "db": c["database"]}).get("content", [])
        if not any(d["bucketID"] == bucket and d["retention_policy"] == c["retention_policy"] for d in dbrps):
            out.append((f"DBRP {c['database']}/{c['retention_policy']}", lambda: self.api("POST", "/api/v2/dbrps", {
                "orgID": org, "bucketID": bucket, "database": c["database"],
                "retention_policy": c["retention_policy"], "default": True})))
        auths = self.api("GET", "/private/legacy/authorizations",
                         params={"orgID": org, "token": c["writer_user"]}).get("authorizations", [])
        write_only = [{"action": "write", "resource": {"type": "buckets", "id": bucket, "orgID": org}}]
        if not auths:
            def create():
                auth = self.api("POST", "/private/legacy/authorizations", {
                    "orgID": org, "token": c["writer_user"], "permissions": write_only,
                    "description": "stack: Telegraf and ops flows, write only"})
                self.set_writer_password(auth["id"])
            out.append((f"writer {c['writer_user']}", create))
        elif self.applied_password() != self.password_digest():
            out.append((f"writer {c['writer_user']} password", lambda: self.set_writer_password(auths[0]["id"])))
        return out

    # A write-only v1 authorization can't log in to ask whether its password is
    # right, so the digest of the password last set is kept on the host.
    APPLIED = "/var/lib/stack/influxdb-writer.sha256"

    def password_digest(self) -> str:
        return hashlib.sha256(f"{self.cfg['writer_user']}:{self.cfg['writer_password']}".encode()).hexdigest()

    def applied_password(self) -> str | None:
        try:
            with open(self.APPLIED) as f:
                return f.read().strip()
        except FileNotFoundError:
            return None

    def set_writer_password(self, auth_id: str):
        self.api("POST", f"/private/legacy/authorizations/{auth_id}/password", {"password": self.cfg["writer_password"]})
        os.makedirs(os.path.dirname(self.APPLIED), mode=0o700, exist_ok=True)
        with open(os.open(self.APPLIED, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            f.write(self.password_digest() + "\n")


def notify(cfg: dict, measurement: str, tags: dict, fields: dict):
    """Tell the webhook about a failed flow: JSON with what, where and the fields."""
    if not cfg.get("webhook_url") or str(fields.get("success", "1")) != "0":
        return
    text = f"{measurement} failed: " + ", ".join(f"{k}={v}" for k, v in sorted(tags.items()))
    body = json.dumps({"text": text, "measurement": measurement, "tags": tags, "fields": fields}).encode()
    status, out = http(cfg["webhook_url"], body, {"Content-Type": "application/json"})
    if status >= 300:
        raise Failure(f"webhook answered HTTP {status}")


def origin(url: str) -> str:
    """scheme://host:port only: a webhook's path (and any user:password@) is its secret."""
    u = urllib.parse.urlsplit(url)
    return f"{u.scheme}://{u.hostname}" + (f":{u.port}" if u.port else "")


def redact(statement: str) -> str:
    """An InfluxQL statement without the password it may carry (CREATE USER ... WITH
    PASSWORD '...', SET PASSWORD FOR ... = '...')."""
    return re.sub(r"( WITH PASSWORD| =) *'.*", r"\1 [redacted]", statement, flags=re.S)


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
        cfg = json.load(f)
    influx = (Influx2 if cfg.get("major") == 2 else Influx)(cfg)
    try:
        if args.cmd == "setup":
            return influx.setup(apply=args.apply)
        tags, fields = parse_pairs(args.pairs, MEASUREMENTS.get(args.measurement, {"fields": {}}))
        point = line(args.measurement, tags, fields)
        try:
            influx.write(point)
        finally:  # the webhook hears of a failure even when InfluxDB is down
            notify(cfg, args.measurement, tags, fields)
    except Failure as e:
        print(f"stack-influx: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
