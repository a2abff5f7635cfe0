"""stack-backup logs: the week's logs, encrypted, to S3 (seed 001's weekly archive).

The files logrotate compressed since the last archive and the journal of the same span
go into one tarball: zstd, then age to the backups' recipient (nothing on a host can
read it back), to ``s3://<bucket>/logs/<host>/<id>/logs.tar.zst.age``, its size and
sha256 checked after the upload. Archives older than ``logs.s3_keep_days`` are
removed. Where the last archive ended is kept in ``logs.state``: a missed week is in
the next one, and a failed run archives nothing twice or never.
"""

from __future__ import annotations

import datetime
import glob
import os
import subprocess
import tempfile

from .store import Failure, Store, backup_id, id_time, now
from .take import stream

NAME = "logs.tar.zst.age"


def rotated(patterns: list[str], since: datetime.datetime, until: datetime.datetime,
            made=lambda path: os.stat(path).st_ctime) -> list[str]:
    """The compressed rotations (``patterns``: globs of logrotate's output) made in (since,
    until]. Made, not last written: gzip keeps the log's mtime, and with delaycompress the
    day rotated just before an archive is compressed only after it."""
    lo, hi = since.timestamp(), until.timestamp()
    return sorted({p for pattern in patterns for p in glob.glob(pattern) if lo < made(p) <= hi})


def last_archived(state: str) -> datetime.datetime | None:
    try:
        with open(state) as f:
            return datetime.datetime.fromisoformat(f.read().strip())
    except FileNotFoundError:
        return None


def expired(keys: list[str], keep_days: int, at: datetime.datetime) -> list[str]:
    """Archive keys (``logs/<host>/<id>/...``) older than keep_days."""
    cutoff = at - datetime.timedelta(days=keep_days)
    return [k for k in keys if id_time(k.split("/")[-2]) < cutoff]


def archive_logs(cfg: dict, at: datetime.datetime | None = None) -> int:
    at, logs = at or now(), cfg["logs"]
    since = last_archived(logs["state"]) or at - datetime.timedelta(days=7)
    files = rotated(logs["paths"], since, at)
    store = Store(cfg, prefix=f"logs/{cfg['host']}")
    key = store.key(backup_id(at), NAME)
    os.makedirs(cfg["local_dir"], mode=0o700, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cfg["local_dir"]) as tmp:
        with open(os.path.join(tmp, "journal.log"), "wb") as journal:
            proc = subprocess.run(["journalctl", "--no-pager", "-o", "short-iso-precise", "--since",
                                   since.strftime("%Y-%m-%d %H:%M:%S UTC"), "--until",
                                   at.strftime("%Y-%m-%d %H:%M:%S UTC")], stdout=journal, stderr=subprocess.PIPE)
        if proc.returncode != 0:
            raise Failure(f"journalctl failed: {proc.stderr.decode(errors='replace').strip()[-500:]}")
        tar = ["tar", "-cf", "-", "-C", tmp, "journal.log", *(["-C", "/", *[f.lstrip("/") for f in files]] if files else [])]
        size, sha256 = stream(cfg, os.path.join(tmp, NAME), tar)
        store.put(os.path.join(tmp, NAME), key, sha256)
    with open(logs["state"] + ".partial", "w") as f:
        f.write(at.isoformat())
    os.replace(logs["state"] + ".partial", logs["state"])
    client, bucket = store.s3(), cfg["s3"]["bucket"]
    listed = client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"logs/{cfg['host']}/")
    old = expired([o["Key"] for page in listed for o in page.get("Contents", [])], logs["s3_keep_days"], at)
    for k in old:
        client.delete_object(Bucket=bucket, Key=k)
    print(f"stack-backup: logs archived to s3://{bucket}/{key}: {len(files)} rotated file(s) and the journal "
          f"since {since.isoformat(timespec='seconds')}, {size} bytes; {len(old)} archive(s) past "
          f"{logs['s3_keep_days']} days removed")
    return 0
