"""InfluxDB 2.x: onboarding, the bucket, the DBRP mapping and the write-only writer."""

from __future__ import annotations

import hashlib
import json
import os
import urllib.parse

from .influx import Influx, http
from .measurements import Failure


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
