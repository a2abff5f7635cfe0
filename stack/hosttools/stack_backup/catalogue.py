"""stack-backup catalogue: every backup there is, whichever host took it (the nightly
ones of the backup source, a migration's pre-migration backups of the primary): in
S3 and on this host, with what a restore needs to know of each."""

from __future__ import annotations

import json
import os

from .archive import BINLOG_NAME
from .store import DRILLED, Store, id_time, key_started, now


def record_drill(store: Store, m: dict, rto_s: float):
    """After a drill that passed: when, and how long the restore took."""
    if not store.cfg["s3"] or not m.get("s3_key"):
        return
    key = f"{m['s3_key'].rsplit('/', 1)[0]}/{DRILLED}"
    body = json.dumps({"at": now().strftime("%Y-%m-%dT%H:%M:%SZ"), "rto_s": round(rto_s, 1)}).encode()
    store.s3().put_object(Bucket=store.cfg["s3"]["bucket"], Key=key, Body=body)


def drilled(store: Store, m: dict) -> str | None:
    from botocore.exceptions import ClientError

    if not m.get("s3_key"):
        return None
    try:
        obj = store.s3().get_object(Bucket=store.cfg["s3"]["bucket"], Key=f"{m['s3_key'].rsplit('/', 1)[0]}/{DRILLED}")
    except ClientError:
        return None
    return json.loads(obj["Body"].read())["at"]


def binlog_range(m: dict, keys: list[str]) -> str:
    """The archived binlogs a point-in-time restore from this backup can replay: from
    the one it was taken in to the last one on its timeline (a restore starts another)."""
    taken = id_time(m["id"])
    first = max((i for i, k in enumerate(keys) if key_started(k) <= taken), default=None)
    if first is None:
        return "none archived"
    names = [os.path.basename(k).split("-", 1)[1][:-len(".zst.age")] for k in keys]
    last = first
    while last + 1 < len(keys) and BINLOG_NAME.fullmatch(names[last + 1]) and \
            int(names[last + 1].rsplit(".", 1)[1]) == int(names[last].rsplit(".", 1)[1]) + 1:
        last += 1
    return f"{names[first]}..{names[last]} (to {key_started(keys[last]):%Y-%m-%dT%H:%M:%SZ} and on)"


def rows(store: Store) -> list[dict]:
    """Every backup, oldest first."""
    found = {m["id"]: m for m in store.manifests()}
    if store.cfg["s3"]:
        found.update({m["id"]: m for m in store.s3_manifests(every_host=True)})
    keys = store.binlogs() if store.cfg["s3"] else []
    out = []
    for m in sorted(found.values(), key=lambda m: m["id"]):
        host = m["s3_key"].split("/", 1)[0] if m.get("s3_key") else store.cfg["host"]
        out.append({"id": m["id"], "host": host, "method": m["method"], "size_bytes": m["size_bytes"],
                    "age_hours": round((now() - id_time(m["id"])).total_seconds() / 3600, 1),
                    "where": "s3" if m.get("s3_key") else "local only",
                    "drilled": drilled(store, m) if store.cfg["s3"] else None,
                    "binlogs": binlog_range(m, keys) if m["method"] == "physical" else "a logical backup: no replay"})
    return out


def catalogue(cfg: dict) -> int:
    print(json.dumps(rows(Store(cfg))))
    return 0
