"""InfluxDB over HTTP (1.x, and what 2.x shares with it: the v1 write API and logins),
and the failure webhook."""

from __future__ import annotations

import base64
import json
import re
import ssl
import urllib.error
import urllib.parse
import urllib.request

from .measurements import Failure


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


def notify(cfg: dict, measurement: str, tags: dict, fields: dict):
    """Tell the webhook how a flow ended: JSON with what, where and the fields. A
    failure always (when there is a webhook); a success when notify_success is on."""
    ok = str(fields.get("success", "1")) != "0"
    if not cfg.get("webhook_url") or (ok and not cfg.get("notify_success")):
        return
    text = f"{measurement} {'succeeded' if ok else 'failed'}: " + ", ".join(f"{k}={v}" for k, v in sorted(tags.items()))
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
