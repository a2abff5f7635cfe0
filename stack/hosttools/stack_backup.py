#!/usr/bin/python3
"""stack-backup: encrypted, checksummed database backups, kept locally and in S3.

Installed on db hosts by tasks/backup_schedule.py; reads /etc/stack/backup.json
(0600: S3 keys, the age *public* recipient; never a private key) and runs as
root over the server's unix socket.

    stack-backup run [--method M] [--extra-recipient AGE_PUBLIC_KEY]
                                  back up now: the stream, the upload, the manifest, retention
    stack-backup list             backups with a manifest, newest last (id, method, size, where)
    stack-backup verify ID|latest the artifact's sha256 against its manifest (from S3 if not local)
    stack-backup stage ID|latest --identity FILE [--from HOST] [--database DB] [--until UTC]
                                  fetch, verify, decrypt and prepare aside (with the archived
                                  binlogs up to UTC, for a point-in-time restore); touches nothing
    stack-backup swap             put the staged backup in place and check the rows: physical,
                                  the datadir swapped (the old one comes back if anything fails);
                                  logical, the databases dumped aside then loaded (ditto)
    stack-backup archive          the binlog archiver (a service): the primary's binlogs to S3
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
import datetime
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time

CONFIG = "/etc/stack/backup.json"
CHUNK = 1 << 20


class Failure(Exception):
    pass


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def backup_id(at: datetime.datetime) -> str:
    """Sortable UTC time: the id, and the order of backups."""
    return at.strftime("%Y%m%dT%H%M%SZ")


def id_time(bid: str) -> datetime.datetime:
    return datetime.datetime.strptime(bid, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)


def source_command(cfg: dict) -> list[str]:
    if cfg["method"] == "physical":
        # --target-dir is only where mariadb-backup keeps its own temporary files.
        return ["mariadb-backup", "--backup", "--stream=mbstream", "--target-dir=/tmp", "--user=root",
                f"--socket={cfg['socket']}", f"--parallel={min(4, os.cpu_count() or 1)}"]
    return dump_command(cfg["socket"], cfg["databases"], "--gtid", "--master-data=2")


def stream(cfg: dict, dest: str) -> tuple[int, str]:
    """source | zstd | age into ``dest``: (size, sha256). Any stage failing fails it all."""
    source = subprocess.Popen(source_command(cfg), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    zstd = subprocess.Popen(["zstd", "-q", "-T0", "-3"], stdin=source.stdout, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    source.stdout.close()
    recipients = [a for r in [cfg["recipient"], *cfg.get("extra_recipients", [])] for a in ("-r", r)]
    age = subprocess.Popen(["age", "--encrypt", *recipients], stdin=zstd.stdout, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
    zstd.stdout.close()
    digest, size = hashlib.sha256(), 0
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        while chunk := age.stdout.read(CHUNK):
            out.write(chunk)
            digest.update(chunk)
            size += len(chunk)
        out.flush()
        os.fsync(out.fileno())
    errors = []
    for name, proc in (("source", source), ("zstd", zstd), ("age", age)):
        err = proc.stderr.read().decode(errors="replace")
        if proc.wait() != 0:
            errors.append(f"{name} exited {proc.returncode}: {err.strip()[-1000:]}")
    if errors:
        raise Failure("; ".join(errors))
    return size, digest.hexdigest()


def facts(cfg: dict) -> dict:
    """What the manifest records about the server: position, revision, rows per table."""
    import pymysql

    conn = pymysql.connect(unix_socket=cfg["socket"], user="root")
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT @@gtid_current_pos, @@version")
            gtid, version = cur.fetchone()
            rows, revision = {}, None
            for db in cfg["databases"]:
                cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
                            "AND table_type = 'BASE TABLE' ORDER BY table_name", (db,))
                for (table,) in cur.fetchall():
                    cur.execute(f"SELECT COUNT(*) FROM `{db}`.`{table}`")
                    rows[f"{db}.{table}"] = cur.fetchone()[0]
                    if table == "alembic_version":
                        cur.execute(f"SELECT version_num FROM `{db}`.`alembic_version`")
                        revision = (cur.fetchone() or [None])[0]
        return {"gtid_current_pos": gtid, "server_version": version, "rows": rows, "alembic_revision": revision}
    finally:
        conn.close()


@contextlib.contextmanager
def replica_paused(cfg: dict):
    """On a replica, its SQL thread stops for the backup and the count, so that the
    manifest's row counts are exactly the backup's; it catches up afterwards.
    Yields whether this is a replica (whether the counts will be exact)."""
    import pymysql

    conn = pymysql.connect(unix_socket=cfg["socket"], user="root", autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW SLAVE STATUS")
            replica = cur.fetchone() is not None
            if replica:
                cur.execute("STOP SLAVE SQL_THREAD")
            try:
                yield replica
            finally:
                if replica:
                    cur.execute("START SLAVE SQL_THREAD")
    finally:
        conn.close()


def in_background(function, *args):
    """function(*args) in a thread; the returned call gives its result or raises its error."""
    import threading

    out = {}

    def target():
        try:
            out["result"] = function(*args)
        except BaseException as e:
            out["error"] = e
    thread = threading.Thread(target=target, daemon=True)
    thread.start()

    def result():
        thread.join()
        if "error" in out:
            raise out["error"]
        return out["result"]
    return result


def tool_versions(cfg: dict) -> dict:
    tools = {"zstd": ["zstd", "--version"], "age": ["age", "--version"],
             source_command(cfg)[0]: [source_command(cfg)[0], "--version"]}
    return {name: subprocess.run(cmd, capture_output=True, text=True).stdout.strip() for name, cmd in tools.items()}


def datadir_bytes(path: str = "/var/lib/mysql") -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files
               if os.path.isfile(os.path.join(d, f)))


class Store:
    """The backups on this host (local_dir) and in S3 (``<prefix>/<id>/...``)."""

    def __init__(self, cfg: dict, prefix: str | None = None):
        self.cfg = cfg
        self.dir = cfg["local_dir"]
        self.prefix = prefix or cfg["host"]  # another host's backups: read from S3 only

    # -- local -----------------------------------------------------------------------
    def artifact(self, bid: str, method: str) -> str:
        return os.path.join(self.dir, f"{bid}.{method}.zst.age")

    def manifest_path(self, bid: str) -> str:
        return os.path.join(self.dir, f"{bid}.json")

    def manifests(self) -> list[dict]:
        """Local manifests, oldest first. Artifacts without one are not backups."""
        if self.prefix != self.cfg["host"]:
            return []
        out = []
        for name in sorted(os.listdir(self.dir)):
            if name.endswith(".json"):
                with open(os.path.join(self.dir, name)) as f:
                    out.append(json.load(f))
        return out

    def write_manifest(self, manifest: dict):
        path = self.manifest_path(manifest["id"])
        tmp = path + ".partial"
        with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
            json.dump(manifest, f, indent=1, sort_keys=True)
        os.replace(tmp, path)

    # -- S3 ------------------------------------------------------------------------------
    def s3(self):
        import boto3
        from botocore.config import Config

        s3 = self.cfg["s3"]
        return boto3.client("s3", endpoint_url=s3["endpoint"], aws_access_key_id=s3["access_key_id"],
                            aws_secret_access_key=s3["secret_access_key"], region_name=s3.get("region") or "us-east-1",
                            config=Config(connect_timeout=5, read_timeout=60, retries={"max_attempts": 2}))

    def key(self, bid: str, name: str) -> str:
        return f"{self.prefix}/{bid}/{name}"

    def put(self, path: str, key: str, sha256: str):
        """One file to S3 (multipart, our sha256 in its metadata), its size and sha256 checked."""
        from boto3.s3.transfer import TransferConfig

        client, bucket = self.s3(), self.cfg["s3"]["bucket"]
        client.upload_file(path, bucket, key, ExtraArgs={"Metadata": {"sha256": sha256}, **extra_sse(self.cfg)},
                           Config=TransferConfig(multipart_threshold=64 << 20, multipart_chunksize=64 << 20,
                                                 max_concurrency=4))
        head = client.head_object(Bucket=bucket, Key=key)
        if head["ContentLength"] != os.path.getsize(path) or head["Metadata"].get("sha256") != sha256:
            raise Failure(f"s3://{bucket}/{key}: size or checksum differs after upload")

    def upload(self, manifest: dict):
        """The artifact, then the manifest."""
        key = self.key(manifest["id"], os.path.basename(manifest["artifact"]))
        self.put(self.artifact(manifest["id"], manifest["method"]), key, manifest["sha256"])
        manifest["s3_key"] = key
        self.s3().put_object(Bucket=self.cfg["s3"]["bucket"], Key=self.key(manifest["id"], "manifest.json"),
                             Body=json.dumps(manifest, indent=1, sort_keys=True).encode(), **extra_sse(self.cfg))
        self.write_manifest(manifest)

    def binlogs(self) -> list[str]:
        """Keys of the archived binlogs, in the order they were written."""
        client, out = self.s3(), []
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=self.cfg["s3"]["bucket"],
                                                                      Prefix=self.prefix + "/binlog/"):
            out += [obj["Key"] for obj in page.get("Contents", [])]
        return sorted(out, key=lambda k: os.path.basename(k))

    def s3_manifests(self) -> list[dict]:
        client, bucket = self.s3(), self.cfg["s3"]["bucket"]
        out = []
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=self.prefix + "/"):
            for obj in page.get("Contents", []):
                if obj["Key"].endswith("/manifest.json"):
                    out.append(json.loads(client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()))
        return sorted(out, key=lambda m: m["id"])


def extra_sse(cfg: dict) -> dict:
    return {"ServerSideEncryption": cfg["s3"]["sse"]} if cfg["s3"].get("sse") else {}


def expired(manifests: list[dict], keep_days: int, at: datetime.datetime) -> list[dict]:
    """Those older than keep_days, never the newest one, whatever its age."""
    cutoff = at - datetime.timedelta(days=keep_days)
    return [m for m in manifests[:-1] if id_time(m["id"]) < cutoff]


def prune(store: Store, at: datetime.datetime) -> list[str]:
    done = []
    for m in expired(store.manifests(), store.cfg["local_keep_days"], at):
        for path in (store.artifact(m["id"], m["method"]), store.manifest_path(m["id"])):
            if os.path.exists(path):
                os.unlink(path)
        done.append(f"local {m['id']}")
    s3 = store.cfg["s3"]
    if s3:
        client = store.s3()
        kept = store.s3_manifests()
        for m in expired(kept, s3["keep_days"], at):
            for name in (os.path.basename(m["artifact"]), "manifest.json"):
                client.delete_object(Bucket=s3["bucket"], Key=store.key(m["id"], name))
            done.append(f"s3 {m['id']}")
            kept.remove(m)
        for key in unneeded_binlogs(store.binlogs(), id_time(kept[0]["id"])):
            client.delete_object(Bucket=s3["bucket"], Key=key)
            done.append(f"s3 {key}")
    return done


def unneeded_binlogs(keys: list[str], oldest_backup: datetime.datetime) -> list[str]:
    """Archived binlogs that end before the oldest kept backup begins: those whose
    successor began before it. The one the backup was taken in stays."""
    return [k for k, after in zip(keys, keys[1:]) if key_started(after) <= oldest_backup]


@contextlib.contextmanager
def exclusive(store: Store):
    """One stack-backup at a time on a host: the timer's, ops' and the drill's runs
    would otherwise clean up each other's work in progress."""
    import fcntl

    os.makedirs(store.dir, mode=0o700, exist_ok=True)
    with open(os.path.join(store.dir, ".lock"), "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Failure(f"another stack-backup is running on this host (it holds {lock.name})") from None
        yield


def leftovers(store: Store) -> list[str]:
    """What a killed run leaves: partial files, and artifacts without a manifest
    (never a backup). Only called under the lock."""
    names = os.listdir(store.dir)
    backed = {n[:-len(".json")] for n in names if n.endswith(".json")}
    return [os.path.join(store.dir, n) for n in names
            if n.endswith(".partial") or (n.endswith(".zst.age") and n.split(".")[0] not in backed)]


def run(cfg: dict) -> int:
    store = Store(cfg)
    with exclusive(store):
        for path in leftovers(store):
            os.unlink(path)
        need, free = datadir_bytes() // 2, shutil.disk_usage(store.dir).free
        if free < need:
            raise Failure(f"{free // 2**20} MiB free in {store.dir}, need at least {need // 2**20} MiB")
        started, clock = now(), time.monotonic()
        bid, method = backup_id(started), cfg["method"]
        artifact = store.artifact(bid, method)
        with replica_paused(cfg) as exact:
            try:
                # A paused replica holds still: its rows are counted while it is streamed.
                counted = in_background(facts, cfg) if exact else None
                size, sha256 = stream(cfg, artifact + ".partial")
                server = counted() if exact else facts(cfg)
            except BaseException:  # a killed server or tool: nothing of this run stays
                if os.path.exists(artifact + ".partial"):
                    os.unlink(artifact + ".partial")
                raise
        os.replace(artifact + ".partial", artifact)
        manifest = {"id": bid, "method": method, "host": cfg["host"], "environment": cfg["environment"],
                    "databases": cfg["databases"], "artifact": os.path.basename(artifact), "size_bytes": size,
                    "sha256": sha256, "recipient": cfg["recipient"],
                    "extra_recipients": cfg.get("extra_recipients", []), "tools": tool_versions(cfg),
                    "duration_s": round(time.monotonic() - clock, 1), "s3_key": None, "rows_exact": exact, **server}
        store.write_manifest(manifest)  # from here on it is a backup, uploaded or not
        print(f"backup {bid}: {method}, {size} bytes, sha256 {sha256}, {manifest['duration_s']}s")
        failures = []
        if cfg["s3"]:
            for m in store.manifests():  # this one, and any an earlier run could not upload
                if not m.get("s3_key"):
                    try:
                        store.upload(m)
                        print(f"uploaded {m['id']} to s3://{cfg['s3']['bucket']}/{m['s3_key']}")
                    except Exception as e:  # S3 down: keep the local backup, say so, exit non-zero
                        failures.append(f"upload of {m['id']} failed: {type(e).__name__}: {e}")
        if not failures:
            for line in prune(store, now()):
                print(f"pruned {line}")
        if failures:
            raise Failure("; ".join(failures) + " (the local backup is kept; the next run uploads it)")
    report(cfg, ["stack-influx", "write", "backup"], method=method, duration_s=manifest["duration_s"],
           size_bytes=size, success=1)
    return 0


def report(cfg: dict, command: list[str], **pairs):
    """A point, through stack-influx (``command``: its write and measurement) and its
    write-only writer; a failure also reaches the alert webhook. Without
    monitoring, or with it down, the flow goes on: its exit status says the same."""
    if not cfg.get("metrics_config"):
        return
    pairs = {"environment": cfg["environment"], "host": cfg["host"], **pairs}
    proc = subprocess.run([command[0], "--config", cfg["metrics_config"], *command[1:],
                           *(f"{k}={v}" for k, v in pairs.items())], capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"stack-backup: {command[-1]} point not written: {proc.stderr.strip()}", file=sys.stderr)


def find(store: Store, which: str, before: datetime.datetime | None = None) -> dict:
    """A backup's manifest: by id, or the latest (taken before ``before``, when given)."""
    local = {m["id"]: m for m in store.manifests()}
    remote = {m["id"]: m for m in store.s3_manifests()} if store.cfg["s3"] else {}
    known = {**remote, **local}
    if not known:
        raise Failure("no backup exists")
    if which == "latest":
        candidates = [bid for bid in known if before is None or id_time(bid) <= before]
        if not candidates:
            raise Failure(f"no backup was taken before {before:%Y-%m-%dT%H:%M:%SZ}")
        which = max(candidates)
    bid = which
    if bid not in known:
        raise Failure(f"unknown backup {bid!r}; known: {sorted(known)}")
    return known[bid]


def fetch(store: Store, m: dict, keep: str | None = None) -> str:
    """The artifact's sha256 checked against its manifest: the local copy, or S3's
    (downloaded to ``keep`` when given, else only read). Returns where it was."""
    path = store.artifact(m["id"], m["method"]) if store.prefix == store.cfg["host"] else ""
    if os.path.exists(path):
        where, digest = path, sha256_of(path)
    else:
        where, digest = keep or f"s3://{store.cfg['s3']['bucket']}/{m['s3_key']}", download(store, m["s3_key"], keep)
    if digest != m["sha256"]:
        raise Failure(f"{m['id']}: {where} does not match its manifest's sha256")
    return where


def download(store: Store, key: str, keep: str | None) -> str:
    """An S3 object's sha256, as it is read (and written to ``keep``, 0600, when given)."""
    body, digest = store.s3().get_object(Bucket=store.cfg["s3"]["bucket"], Key=key)["Body"], hashlib.sha256()
    out = os.fdopen(os.open(keep, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") if keep else None
    try:
        while chunk := body.read(CHUNK):
            digest.update(chunk)
            if out:
                out.write(chunk)
    finally:
        if out:
            out.close()
    return digest.hexdigest()


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify(store: Store, which: str) -> int:
    m = find(store, which)
    print(f"{m['id']}: {fetch(store, m)} matches sha256 {m['sha256']}")
    return 0


def pipeline(*commands: list[str], stdin_path: str | None = None, stdout_path: str | None = None,
             env: dict | None = None) -> None:
    """commands[0] < stdin_path | commands[1] | ... > stdout_path (0600); any stage
    failing fails it all."""
    procs = []
    prev = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL
    out = os.open(stdout_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600) if stdout_path else subprocess.DEVNULL
    try:
        for i, cmd in enumerate(commands):
            last = i == len(commands) - 1
            proc = subprocess.Popen(cmd, stdin=prev, stdout=out if last else subprocess.PIPE, stderr=subprocess.PIPE,
                                    env=env)
            if prev is not subprocess.DEVNULL:
                prev.close()
            prev = proc.stdout
            procs.append(proc)
    finally:
        if stdout_path:
            os.close(out)
    errors = []
    for cmd, proc in zip(commands, procs):
        err = proc.stderr.read().decode(errors="replace")
        if proc.wait() != 0:
            errors.append(f"{cmd[0]} exited {proc.returncode}: {err.strip()[-1000:]}")
    if errors:
        raise Failure("; ".join(errors))


def sh(*cmd: str):
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise Failure(f"{' '.join(cmd)} failed: {(proc.stderr or proc.stdout).strip()[-1000:]}")


def staging(cfg: dict) -> str:
    return os.path.join(cfg["local_dir"], "restore")


DRILL_DIR = "/var/lib/mysql-drill"  # 0700, the scratch server's own (mysql), next to the live one


def stage(cfg: dict, which: str, identity: str, source: str | None, databases: list[str] | None = None,
          work: str | None = None, until: str | None = None) -> dict:
    """Everything that can fail without harm, all aside in ``work``: the checksum,
    the decryption, and mariadb-backup --prepare (physical) or a full read of the
    dump (logical). ``databases``: only these (logical backups only). ``until``
    (UTC, 2026-11-25T14:30:00Z): the archived binlogs up to then, to replay."""
    clock = time.monotonic()
    store = Store(cfg, prefix=source)
    target = None
    if until:
        target = datetime.datetime.strptime(until, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
        if target > now():
            raise Failure(f"until {until} is in the future")
    m = find(store, which, before=target)
    if target and (m["method"] != "physical" or target < id_time(m["id"])):
        raise Failure(f"a point-in-time restore starts from a physical backup taken before {until}; "
                      f"{m['id']} is a {m['method']} backup")
    if databases and m["method"] == "physical":
        raise Failure(f"{m['id']} is a physical backup: it restores whole (the server, every database). A single "
                      "database needs a logical backup (stack-backup run --method logical)")
    if set(databases or ()) - set(m["databases"]):
        raise Failure(f"{m['id']} holds the databases {m['databases']}, not {sorted(set(databases) - set(m['databases']))}")
    databases = databases or m["databases"]
    work = work or staging(cfg)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work, mode=0o700)
    try:
        artifact = fetch(store, m, keep=os.path.join(work, "artifact"))
        print(f"{m['id']}: {artifact} matches sha256 {m['sha256']}")
        decrypt = ["age", "--decrypt", "-i", identity]
        if m["method"] == "physical":
            os.makedirs(os.path.join(work, "data"), mode=0o700)
            pipeline(decrypt, ["zstd", "-d", "-q"], ["mbstream", "-x", "-C", os.path.join(work, "data")],
                     stdin_path=artifact)
            sh("mariadb-backup", "--prepare", f"--target-dir={os.path.join(work, 'data')}")
            # the position the backup is consistent at, as mariadb-backup took it (under its
            # commit lock): where a point-in-time replay starts
            with open(os.path.join(work, "data", "xtrabackup_binlog_info")) as f:
                m = {**m, "gtid_current_pos": (f.read().split() + [""])[2]}
        else:  # kept compressed in this root-only directory, read through once
            pipeline(decrypt, stdin_path=artifact, stdout_path=os.path.join(work, "dump.sql.zst"))
            sh("zstd", "-t", "-q", os.path.join(work, "dump.sql.zst"))
        if artifact == os.path.join(work, "artifact"):  # a download; never the local backup itself
            os.unlink(artifact)
        staged = {**m, "restore_databases": databases, "until": until,
                  "binlogs": stage_binlogs(store, m, target, work, identity) if target else []}
        staged["staged_s"] = round(time.monotonic() - clock, 1)
        with open(os.path.join(work, "manifest.json"), "w") as f:
            json.dump(staged, f)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    print(f"{m['id']}: decrypted and {'prepared' if m['method'] == 'physical' else 'read'} in "
          f"{staged['staged_s']:.1f}s; nothing was touched")
    return staged


def rows_of(m: dict, databases: list[str]) -> dict:
    return {t: n for t, n in m["rows"].items() if t.split(".")[0] in databases}


def check_rows(cfg: dict, m: dict):
    if not m.get("rows_exact", True):
        print(f"row counts not compared: {m['id']} was taken on a primary, whose rows may have changed "
              "between the backup and the count")
        return
    dbs = m["restore_databases"]
    found, wanted = facts({**cfg, "databases": dbs})["rows"], rows_of(m, dbs)
    if found != wanted:
        wrong = sorted(t for t in set(found) | set(wanted) if found.get(t) != wanted.get(t))
        raise Failure(f"row counts differ from the manifest in {wrong}")


def swap(cfg: dict) -> int:
    work = staging(cfg)
    try:
        with open(os.path.join(work, "manifest.json")) as f:
            m = json.load(f)
    except FileNotFoundError:
        raise Failure("nothing is staged: run stack-backup stage first") from None
    clock = time.monotonic()
    point = dict(kind="restore", method=m["method"])
    try:
        if m["method"] == "physical":
            swap_datadir(cfg, os.path.join(work, "data"), m)
        else:
            load_dump(cfg, work, m)
    except BaseException:
        report(cfg, ["stack-influx", "write", "restore"], **point, duration_s=m["staged_s"], success=0)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rto = m["staged_s"] + time.monotonic() - clock
    report(cfg, ["stack-influx", "write", "restore"], **point, duration_s=round(rto, 1), success=1)
    replayed = f"; binlogs replayed up to {m['until']}" if m["until"] else ""
    print(f"restored {m['id']} ({', '.join(m['restore_databases'])}): swapped in {time.monotonic() - clock:.1f}s "
          f"after {m['staged_s']}s of staging; rows match the manifest{replayed}; RTO {rto:.1f}s")
    return 0


def swap_datadir(cfg: dict, staged: str, m: dict):
    datadir, aside = "/var/lib/mysql", f"/var/lib/mysql.before-{m['id']}"
    sh("systemctl", "stop", "mariadb")
    os.rename(datadir, aside)
    try:
        os.makedirs(datadir, mode=0o750)
        # moved, not copied: the staged copy is on the same filesystem and is not needed again
        sh("mariadb-backup", "--move-back", f"--target-dir={staged}", f"--datadir={datadir}")
        sh("chown", "-R", "mysql:mysql", datadir)
        sh("systemctl", "start", "mariadb")
        forget_replication(cfg)
        check_rows(cfg, m)
        if m["until"]:
            replay(cfg, m)
    except BaseException:
        subprocess.run(["systemctl", "stop", "mariadb"])
        shutil.rmtree(datadir, ignore_errors=True)
        os.rename(aside, datadir)
        subprocess.run(["systemctl", "start", "mariadb"])
        print("the server is back on its data from before the restore", file=sys.stderr)
        raise
    shutil.rmtree(aside)


def dump_command(socket: str, databases: list[str], *extra: str) -> list[str]:
    return ["mariadb-dump", "--user=root", f"--socket={socket}", "--single-transaction", "--routines", "--triggers",
            "--events", "--hex-blob", *extra, "--databases", *databases]


def recreate(socket: str, drop: list[str], create: list[str]):
    import pymysql

    conn = pymysql.connect(unix_socket=socket, user="root", autocommit=True)
    try:
        with conn.cursor() as cur:
            for db in drop:
                cur.execute(f"DROP DATABASE IF EXISTS `{db}`")
            for db in create:
                cur.execute(f"CREATE DATABASE `{db}`")
    finally:
        conn.close()


def load(socket: str, path: str, databases: list[str], only: str | None = None):
    """The databases emptied, then a dump (zstd) loaded; ``only``: that one of its databases."""
    recreate(socket, databases, databases)
    pipeline(["zstd", "-d", "-q"], ["mariadb", "--user=root", f"--socket={socket}",
                                    *(["--one-database", only] if only else [])], stdin_path=path)


def load_dump(cfg: dict, work: str, m: dict):
    """A logical restore in place: the databases as they are now are dumped aside
    first, and loaded back if anything fails. The load is binlogged, so replicas
    follow it as it happens."""
    import pymysql

    dbs, before = m["restore_databases"], os.path.join(work, "before.sql.zst")
    conn = pymysql.connect(unix_socket=cfg["socket"], user="root")
    with conn.cursor() as cur:
        cur.execute("SHOW DATABASES")
        present = [db for (db,) in cur.fetchall() if db in dbs]  # a lost one has nothing to keep
    conn.close()
    if present:
        pipeline(dump_command(cfg["socket"], present), ["zstd", "-q", "-T0"], stdout_path=before)
    try:
        load(cfg["socket"], os.path.join(work, "dump.sql.zst"), dbs,
             only=dbs[0] if dbs != m["databases"] else None)
        check_rows(cfg, m)
    except BaseException:
        recreate(cfg["socket"], dbs, [])
        if present:
            load(cfg["socket"], before, present)
        print("the databases are back as they were before the restore", file=sys.stderr)
        raise


def forget_replication(cfg: dict):
    """A backup taken on a replica carries its replication state: this server starts
    anew as a primary with a fresh binlog, and its replicas are seeded again."""
    import pymysql

    conn = pymysql.connect(unix_socket=cfg["socket"], user="root", autocommit=True)
    try:
        with conn.cursor() as cur:
            for sql in ("STOP SLAVE", "RESET SLAVE ALL", "RESET MASTER", "SET GLOBAL gtid_slave_pos = ''"):
                cur.execute(sql)
    finally:
        conn.close()


@contextlib.contextmanager
def scratch_server(datadir: str):
    """A throwaway mariadbd on its own datadir and socket: no network, no replication,
    no grants; stopped and gone afterwards. Yields its socket."""
    socket = os.path.join(os.path.dirname(datadir), "scratch.sock")
    log = os.path.join(os.path.dirname(datadir), "scratch.err")
    # Its temporary files beside its data: the caller's TMPDIR may be root's own
    # (libpam-tmpdir), where the mysql user cannot write.
    proc = subprocess.Popen(["mariadbd", "--no-defaults", "--user=mysql", f"--datadir={datadir}",
                             f"--tmpdir={os.path.dirname(datadir)}",
                             f"--socket={socket}", f"--pid-file={datadir}.pid", f"--log-error={log}",
                             "--skip-networking", "--skip-slave-start", "--skip-grant-tables", "--skip-log-bin",
                             "--innodb-buffer-pool-size=128M"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            if os.path.exists(socket):
                break
            if proc.poll() is not None:
                with open(log, errors="replace") as f:
                    raise Failure(f"the scratch server did not start: {f.read()[-1000:]}")
            time.sleep(0.1)
        else:
            raise Failure("the scratch server did not open its socket in 60 s")
        yield socket
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def drill(cfg: dict, which: str, identity: str, source: str | None) -> int:
    """The latest backup restored into a scratch server on this host, checked (sha256,
    rows, alembic revision), timed, and removed. The live server is not touched."""
    clock, work = time.monotonic(), DRILL_DIR
    point = dict(kind="drill", method="unknown")
    try:
        m = stage(cfg, which, identity, source, work=work)
        point["method"] = m["method"]
        datadir = os.path.join(work, "data")
        sh("chown", "-R", "mysql:mysql", work)  # the scratch server runs as mysql, as the live one
        if m["method"] == "logical":
            sh("mariadb-install-db", "--no-defaults", "--user=mysql", f"--datadir={datadir}",
               "--auth-root-authentication-method=socket", "--skip-test-db")
        with scratch_server(datadir) as socket:
            if m["method"] == "logical":
                load(socket, os.path.join(work, "dump.sql.zst"), m["databases"])
            found = facts({**cfg, "socket": socket})
        if found["rows"] != m["rows"] or found["alembic_revision"] != m["alembic_revision"]:
            raise Failure(f"the restored data differs from the manifest: rows {found['rows']} against "
                          f"{m['rows']}, revision {found['alembic_revision']} against {m['alembic_revision']}")
    except BaseException:
        report(cfg, ["stack-influx", "write", "restore"], **point,
               duration_s=round(time.monotonic() - clock, 1), success=0)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rto = time.monotonic() - clock
    report(cfg, ["stack-influx", "write", "restore"], **point, duration_s=round(rto, 1), success=1)
    print(f"drill {m['id']}: restored into a scratch server, {sum(m['rows'].values())} rows and revision "
          f"{m['alembic_revision']} match the manifest; RTO {rto:.1f}s; scratch removed")
    return 0


# -- the binlog archive: point-in-time recovery ---------------------------------------------
BINLOG_NAME = re.compile(r"[\w-]+\.\d{6}")


def binlog_started(path: str) -> datetime.datetime:
    """When the server began this binlog: the timestamp of its first event, right
    after the 4-byte magic number."""
    with open(path, "rb") as f:
        head = f.read(8)
    if head[:4] != b"\xfebin" or len(head) < 8:
        raise Failure(f"{path} is not a binlog")
    return datetime.datetime.fromtimestamp(int.from_bytes(head[4:8], "little"), datetime.timezone.utc)


def binlog_key(store: Store, path: str) -> str:
    """<host>/binlog/<when it began>-<name>.zst.age: in the order written, even after a
    restore starts the primary's numbering anew."""
    return f"{store.prefix}/binlog/{backup_id(binlog_started(path))}-{os.path.basename(path)}.zst.age"


def key_started(key: str) -> datetime.datetime:
    return id_time(os.path.basename(key).split("-")[0])


def spooled(spool: str) -> list[str]:
    return sorted(n for n in os.listdir(spool) if BINLOG_NAME.fullmatch(n))


def archive_closed(store: Store, spool: str, names: list[str]):
    """Each binlog the primary closed: zstd | age, uploaded, checked, then removed here."""
    for name in names:
        path = os.path.join(spool, name)
        sealed = path + ".zst.age.partial"
        pipeline(["zstd", "-q", "-T0"], ["age", "--encrypt", "-r", store.cfg["recipient"]], stdin_path=path,
                 stdout_path=sealed)
        key = binlog_key(store, path)
        store.put(sealed, key, sha256_of(sealed))
        os.unlink(sealed)
        os.unlink(path)
        print(f"archived {name} to s3://{store.cfg['s3']['bucket']}/{key}", flush=True)


def archive(cfg: dict) -> int:
    """The archiver service, on the backup host. mariadb-binlog follows the primary's
    binlog into the spool as it is written; every binlog the primary closes is
    archived within seconds. When the primary has written anything in the last
    flush_seconds, it is made to close its binlog (FLUSH BINARY LOGS), so no
    committed transaction waits longer than that to be offsite. Exits when the
    primary goes away; systemd starts it again."""
    import pymysql

    store, b = Store(cfg), cfg["binlog"]
    spool = os.path.join(cfg["local_dir"], "binlog")
    os.makedirs(spool, mode=0o700, exist_ok=True)
    for name in os.listdir(spool):
        if name.endswith(".partial"):
            os.unlink(os.path.join(spool, name))
    conn = pymysql.connect(host=b["host"], port=b["port"], user=b["user"], password=b["password"], autocommit=True,
                           connect_timeout=5, ssl_ca=b["ca"], ssl_verify_cert=True, ssl_verify_identity=True)
    with conn.cursor() as cur:
        cur.execute("SHOW BINARY LOGS")
        on_primary = [row[0] for row in cur.fetchall()]
        cur.execute("SHOW MASTER STATUS")
        written = cur.fetchone()[:2]  # where the primary's binlog ends: more than this, and it is flushed
    have = spooled(spool)
    if have and have[-1] not in on_primary:  # the primary began anew (a restore): all we hold is closed
        archive_closed(store, spool, have)
        have = []
    archive_closed(store, spool, have[:-1])
    defaults = os.path.join(os.environ.get("RUNTIME_DIRECTORY", "/run/stack-backup"), "binlog.cnf")
    with open(os.open(defaults, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:  # never on a command line
        f.write("[client]\n" + "".join(f'{k}="{b[k]}"\n' for k in ("host", "port", "user", "password"))
                + f'ssl-ca="{b["ca"]}"\nssl-verify-server-cert\n')
    follow = subprocess.Popen(["mariadb-binlog", f"--defaults-file={defaults}", "--read-from-remote-server", "--raw",
                               "--stop-never", f"--stop-never-slave-server-id={b['server_id']}",
                               f"--result-file={spool}/", have[-1] if have else on_primary[0]])
    print(f"following {b['host']}'s binlog from {have[-1] if have else on_primary[0]}", flush=True)
    flushed_at = time.monotonic()
    try:
        while follow.poll() is None:
            time.sleep(1)
            try:
                archive_closed(store, spool, spooled(spool)[:-1])
                if time.monotonic() - flushed_at >= b["flush_seconds"]:
                    with conn.cursor() as cur:
                        cur.execute("SHOW MASTER STATUS")
                        now_at = cur.fetchone()[:2]
                        if now_at != written:
                            cur.execute("FLUSH BINARY LOGS")
                            cur.execute("SHOW MASTER STATUS")
                            now_at = cur.fetchone()[:2]
                    written, flushed_at = now_at, time.monotonic()
            except Exception as e:  # S3 or the primary away for a while: the spool keeps it all; try again
                print(f"stack-backup: archive: {type(e).__name__}: {e}", file=sys.stderr, flush=True)
                time.sleep(5)
                if not conn.open:
                    conn.ping(reconnect=True)
    finally:
        follow.terminate()
        follow.wait()
    raise Failure(f"mariadb-binlog stopped (exit {follow.returncode}): the primary went away")


def stage_binlogs(store: Store, m: dict, until: datetime.datetime, work: str, identity: str) -> list[str]:
    """The archived binlogs from the one the backup was taken in up to ``until``:
    downloaded, checked against their sha256, decrypted into work/binlog."""
    keys = store.binlogs()
    taken = id_time(m["id"])
    first = max((i for i, k in enumerate(keys) if key_started(k) <= taken), default=None)
    if first is None:
        raise Failure(f"no archived binlog reaches back to backup {m['id']}: the archive begins "
                      f"{keys[0].rsplit('/', 1)[1] if keys else 'nowhere yet'}")
    chosen = [k for k in keys[first:] if key_started(k) <= until]
    numbers = [int(os.path.basename(k).split(".")[-3]) for k in chosen]
    if numbers != list(range(numbers[0], numbers[0] + len(numbers))):
        raise Failure(f"the binlog archive has a gap between {chosen[0]} and {chosen[-1]}")
    os.makedirs(os.path.join(work, "binlog"), mode=0o700)
    paths, bucket = [], store.cfg["s3"]["bucket"]
    for key in chosen:
        sealed = os.path.join(work, "binlog", "sealed")
        wanted = store.s3().head_object(Bucket=bucket, Key=key)["Metadata"].get("sha256")
        if download(store, key, sealed) != wanted:
            raise Failure(f"s3://{bucket}/{key} does not match its sha256")
        path = os.path.join(work, "binlog", os.path.basename(key).split("-", 1)[1][:-len(".zst.age")])
        pipeline(["age", "--decrypt", "-i", identity], ["zstd", "-d", "-q"], stdin_path=sealed,
                 stdout_path=path)
        os.unlink(sealed)
        paths.append(path)
    print(f"{len(paths)} archived binlog(s) from {os.path.basename(paths[0])}, to replay up to "
          f"{until:%Y-%m-%dT%H:%M:%SZ}")
    return paths


def replay(cfg: dict, m: dict):
    """The staged binlogs applied after the backup's GTID position, up to the
    target time (the binlog's times read as UTC)."""
    start = [f"--start-position={m['gtid_current_pos']}"] if m["gtid_current_pos"] else []  # none: from the start
    pipeline(["mariadb-binlog", "--no-defaults", *start,
              f"--stop-datetime={m['until'].replace('T', ' ').rstrip('Z')}", *m["binlogs"]],
             ["mariadb", "--user=root", f"--socket={cfg['socket']}"], env={**os.environ, "TZ": "UTC"})


def bucket(store: Store, ensure: bool) -> int:
    """Retention itself is ours (it never deletes the newest backup); the store's
    lifecycle only removes what deletes and killed uploads leave behind."""
    from botocore.exceptions import ClientError

    client, s3 = store.s3(), store.cfg["s3"]
    try:
        client.head_bucket(Bucket=s3["bucket"])
        return 0
    except ClientError as e:
        if not ensure or e.response["Error"]["Code"] not in ("404", "NoSuchBucket"):
            print(f"bucket {s3['bucket']}: {e.response['Error']['Code']}")
            return 1
    region = s3.get("region") or "us-east-1"
    client.create_bucket(Bucket=s3["bucket"], **({} if region == "us-east-1" else
                                                 {"CreateBucketConfiguration": {"LocationConstraint": region}}))
    for what, call in (
        ("versioning", lambda: client.put_bucket_versioning(
            Bucket=s3["bucket"], VersioningConfiguration={"Status": "Enabled"})),
        ("lifecycle", lambda: client.put_bucket_lifecycle_configuration(
            Bucket=s3["bucket"], LifecycleConfiguration={"Rules": [{
                "ID": "stack-backup-leftovers", "Status": "Enabled", "Filter": {"Prefix": ""},
                "NoncurrentVersionExpiration": {"NoncurrentDays": 7},
                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}]}))):
        try:
            call()
        except ClientError as e:  # not every S3-compatible store has it: say so, carry on
            print(f"bucket {s3['bucket']}: {what} not set: {e.response['Error']['Code']}")
    print(f"created bucket {s3['bucket']}")
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="stack-backup", description=__doc__.split("\n")[0])
    p.add_argument("--config", default=CONFIG)
    sub = p.add_subparsers(dest="cmd", required=True)
    sp = sub.add_parser("run")
    sp.add_argument("--method", choices=["physical", "logical"], help="instead of the configured one")
    sp.add_argument("--extra-recipient", action="append", default=[],
                    help="another age public key this backup is encrypted to (a flow's own, short-lived)")
    sub.add_parser("list")
    sp = sub.add_parser("verify")
    sp.add_argument("id")
    sub.add_parser("swap")
    sub.add_parser("archive")
    for name in ("stage", "drill"):
        sp = sub.add_parser(name)
        sp.add_argument("id")
        sp.add_argument("--identity", required=True, help="age identity file (keep it on tmpfs)")
        sp.add_argument("--from", dest="source", help="the host whose backups to read (default: this one)")
        if name == "stage":
            sp.add_argument("--database", help="only this database (logical backups)")
            sp.add_argument("--until", help="UTC time (2026-11-25T14:30:00Z): replay the binlog archive up to then")
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
            return run(cfg)
        if args.cmd == "stage":
            stage(cfg, args.id, args.identity, args.source, [args.database] if args.database else None,
                  until=args.until)
            return 0
        if args.cmd == "swap":
            return swap(cfg)
        if args.cmd == "archive":
            return archive(cfg)
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
    except Exception as e:  # whatever failed (a killed server too): said, and non-zero
        what = {"run": "backup"}.get(args.cmd, args.cmd)
        print(f"stack-backup: {what} failed: {e if isinstance(e, Failure) else f'{type(e).__name__}: {e}'}",
              file=sys.stderr)
        if args.cmd == "run":
            report(cfg, ["stack-influx", "write", "backup"], method=cfg["method"],
                   duration_s=round(time.monotonic() - clock, 1), success=0)
        return 2


if __name__ == "__main__":
    sys.exit(main())
