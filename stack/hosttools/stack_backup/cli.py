"""stack-backup: encrypted, checksummed database backups, kept locally and in S3.

Installed on db hosts by tasks/backup_schedule.py; reads /etc/stack/backup.json
(0600: S3 keys, the age *public* recipient; never a private key) and runs as
root over the server's unix socket.

    stack-backup run [--method M] [--extra-recipient AGE_PUBLIC_KEY]
                                  back up now: the stream, the upload, the manifest, retention
    stack-backup list             backups with a manifest, newest last (id, method, size, where)
    stack-backup catalogue        every backup of every host, in S3 and here (JSON): id, host, method,
                                  size, age, the last drill that restored it, the binlogs it can replay
    stack-backup verify ID|latest the artifact's sha256 against its manifest (from S3 if not local)
    stack-backup stage ID|latest --identity FILE [--from HOST] [--database DB]
                       [--until UTC | --until-gtid GTID [--local-binlogs]]
                                  fetch, verify, decrypt and prepare aside (with the binlogs up to
                                  UTC or GTID, for a point-in-time restore); touches nothing
    stack-backup swap             put the staged backup in place and check the rows: physical,
                                  the datadir swapped (the old one comes back if anything fails);
                                  logical, the databases dumped aside then loaded (ditto)
    stack-backup archive          the binlog archiver (a service): the primary's binlogs to S3
    stack-backup logs             the logs rotated since the last run and the journal, encrypted, to S3
                                  (weekly, on every host; its config: /etc/stack/logs.json)
    stack-backup drill ID|latest --identity FILE [--from HOST]
                                  restore into a scratch server here, check it, time it, remove it
    stack-backup bucket --check   exit 1 if the bucket is missing
    stack-backup bucket --ensure  create it: versioning, and a lifecycle rule for leftovers, where allowed

The stream: ``mariadb-backup --backup --stream=mbstream`` (physical) or
``mariadb-dump --single-transaction ...`` (logical) | ``zstd -T0`` | ``age -r
RECIPIENT``, hashed as it is written: no unencrypted byte touches the disk.
The manifest is written last; a backup without one does not exist. If S3 is
unreachable the local backup is kept, the run exits non-zero, and the next run
uploads what is missing.

Standalone on purpose: Python 3, python3-pymysql and python3-boto3 only.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import time

from .archive import archive
from .catalogue import catalogue
from .commands import report
from .drill import drill
from .logs import archive_logs
from .restore import stage, swap
from .store import Failure, Store, bucket, verify
from .take import exclusive, run

# What changes this host's backups or server takes the host's one stack-backup lock, as a
# backup does: a drill or a restore's stage and swap never overlap a backup or each other.
EXCLUSIVE = ("stage", "swap", "drill")

CONFIG = "/etc/stack/backup.json"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="stack-backup", description=__doc__.split("\n")[0])
    p.add_argument("--config", default=CONFIG)
    p.add_argument("--wait", action="store_true", help="run, stage, swap, drill: wait for another stack-backup "
                                                       "on this host to end, instead of refusing")
    sub = p.add_subparsers(dest="cmd", required=True)
    sp = sub.add_parser("run")
    sp.add_argument("--method", choices=["physical", "logical"], help="instead of the configured one")
    sp.add_argument("--extra-recipient", action="append", default=[],
                    help="another age public key this backup is encrypted to (a flow's own, short-lived)")
    sub.add_parser("list")
    sub.add_parser("catalogue")
    sp = sub.add_parser("verify")
    sp.add_argument("id")
    sub.add_parser("swap")
    sub.add_parser("archive")
    sub.add_parser("logs")
    for name in ("stage", "drill"):
        sp = sub.add_parser(name)
        sp.add_argument("id")
        sp.add_argument("--identity", required=True, help="age identity file (keep it on tmpfs)")
        sp.add_argument("--from", dest="source", help="the host whose backups to read (default: this one)")
        if name == "stage":
            sp.add_argument("--database", help="only this database (logical backups)")
            target = sp.add_mutually_exclusive_group()
            target.add_argument("--until", help="UTC time (2026-11-25T14:30:00Z): replay the binlog archive up to then")
            target.add_argument("--until-gtid", help="a GTID position (0-1-42): replay up to it, included")
            sp.add_argument("--local-binlogs", action="store_true",
                            help="replay this server's own binlogs, not the archive's")
    sp = sub.add_parser("bucket")
    mode = sp.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true")
    mode.add_argument("--ensure", action="store_true")
    args = p.parse_args(argv)
    with open(args.config) as f:
        cfg = json.load(f)
    if args.cmd == "run":
        cfg["method"] = args.method or cfg["method"]
        cfg["extra_recipients"] = args.extra_recipient
    clock = time.monotonic()
    try:
        if args.cmd == "run":
            return run(cfg, wait=args.wait)
        with exclusive(Store(cfg), wait=args.wait) if args.cmd in EXCLUSIVE else contextlib.nullcontext():
            return dispatch(args, cfg)
    except Exception as e:  # whatever failed (a killed server too): said, and non-zero
        what = {"run": "backup"}.get(args.cmd, args.cmd)
        print(f"stack-backup: {what} failed: {e if isinstance(e, Failure) else f'{type(e).__name__}: {e}'}",
              file=sys.stderr)
        if args.cmd == "run":
            report(cfg, ["stack-influx", "write", "backup"], method=cfg["method"],
                   duration_s=round(time.monotonic() - clock, 1), success=0)
        return 2


def dispatch(args, cfg: dict) -> int:
    """Every command but run (which takes its lock itself)."""
    if args.cmd == "stage":
        stage(cfg, args.id, args.identity, args.source, [args.database] if args.database else None,
              until=args.until, until_gtid=args.until_gtid, local_binlogs=args.local_binlogs)
        return 0
    if args.cmd == "swap":
        return swap(cfg)
    if args.cmd == "archive":
        return archive(cfg)
    if args.cmd == "logs":
        return archive_logs(cfg)
    if args.cmd == "catalogue":
        return catalogue(cfg)
    if args.cmd == "drill":
        return drill(cfg, args.id, args.identity, args.source)
    store = Store(cfg)
    if args.cmd == "bucket":
        return bucket(store, ensure=args.ensure)
    if args.cmd == "list":
        for m in store.manifests():
            print(f"{m['id']} {m['method']} {m['size_bytes']} {'s3' if m.get('s3_key') else 'local only'}")
        return 0
    return verify(store, args.id)
