#!/usr/bin/python3
"""stack-backup: encrypted, checksummed database backups, kept locally and in S3.

Installed on db hosts by tasks/backup_schedule.py; reads /etc/stack/backup.json
(0600: S3 keys, the age *public* recipient; never a private key) and runs as
root over the server's unix socket.

    stack-backup run              back up now: the stream, the upload, the manifest, retention
    stack-backup list             backups with a manifest, newest last (id, method, size, where)
    stack-backup verify ID|latest the artifact's sha256 against its manifest (from S3 if not local)
    stack-backup stage ID|latest --identity FILE [--from HOST]
                                  fetch, verify, decrypt and prepare aside; touches nothing
    stack-backup swap             stop the server, swap the staged datadir in, check the rows
                                  (the old datadir comes back if anything fails); physical only
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
import shutil
import subprocess
import sys
import time

CONFIG = "/etc/stack/backup.json"
CHUNK = 1 << 20
SYSTEM_DATABASES = {"mysql", "information_schema", "performance_schema", "sys"}


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
                f"--socket={cfg['socket']}"]
    return ["mariadb-dump", "--user=root", f"--socket={cfg['socket']}", "--single-transaction", "--routines",
            "--triggers", "--events", "--hex-blob", "--gtid", "--master-data=2", "--databases", *cfg["databases"]]


def stream(cfg: dict, dest: str) -> tuple[int, str]:
    """source | zstd | age into ``dest``: (size, sha256). Any stage failing fails it all."""
    source = subprocess.Popen(source_command(cfg), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    zstd = subprocess.Popen(["zstd", "-q", "-T0", "-3"], stdin=source.stdout, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    source.stdout.close()
    age = subprocess.Popen(["age", "--encrypt", "-r", cfg["recipient"]], stdin=zstd.stdout, stdout=subprocess.PIPE,
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
    manifest's row counts are exactly the backup's; it catches up afterwards."""
    import pymysql

    conn = pymysql.connect(unix_socket=cfg["socket"], user="root", autocommit=True)
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW SLAVE STATUS")
            replica = cur.fetchone() is not None
            if replica:
                cur.execute("STOP SLAVE SQL_THREAD")
            try:
                yield
            finally:
                if replica:
                    cur.execute("START SLAVE SQL_THREAD")
    finally:
        conn.close()


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

    def upload(self, manifest: dict):
        """The artifact (multipart, our sha256 in its metadata, size checked), then the manifest."""
        from boto3.s3.transfer import TransferConfig

        client, bucket = self.s3(), self.cfg["s3"]["bucket"]
        extra = {"Metadata": {"sha256": manifest["sha256"]}, **extra_sse(self.cfg)}
        key = self.key(manifest["id"], os.path.basename(manifest["artifact"]))
        client.upload_file(self.artifact(manifest["id"], manifest["method"]), bucket, key, ExtraArgs=extra,
                           Config=TransferConfig(multipart_threshold=64 << 20, multipart_chunksize=64 << 20,
                                                 max_concurrency=4))
        head = client.head_object(Bucket=bucket, Key=key)
        if head["ContentLength"] != manifest["size_bytes"] or head["Metadata"].get("sha256") != manifest["sha256"]:
            raise Failure(f"s3://{bucket}/{key}: size or checksum differs after upload")
        manifest["s3_key"] = key
        client.put_object(Bucket=bucket, Key=self.key(manifest["id"], "manifest.json"),
                          Body=json.dumps(manifest, indent=1, sort_keys=True).encode(), **extra_sse(self.cfg))
        self.write_manifest(manifest)

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
        for m in expired(store.s3_manifests(), s3["keep_days"], at):
            for name in (os.path.basename(m["artifact"]), "manifest.json"):
                client.delete_object(Bucket=s3["bucket"], Key=store.key(m["id"], name))
            done.append(f"s3 {m['id']}")
    return done


def run(cfg: dict) -> int:
    store = Store(cfg)
    os.makedirs(store.dir, mode=0o700, exist_ok=True)
    for name in os.listdir(store.dir):  # what a killed run left: never a backup
        if name.endswith(".partial"):
            os.unlink(os.path.join(store.dir, name))
    need, free = datadir_bytes() // 2, shutil.disk_usage(store.dir).free
    if free < need:
        raise Failure(f"{free // 2**20} MiB free in {store.dir}, need at least {need // 2**20} MiB")
    started, clock = now(), time.monotonic()
    bid, method = backup_id(started), cfg["method"]
    artifact = store.artifact(bid, method)
    with replica_paused(cfg):  # the rows counted are the rows backed up
        try:
            size, sha256 = stream(cfg, artifact + ".partial")
            os.replace(artifact + ".partial", artifact)
        except BaseException:
            if os.path.exists(artifact + ".partial"):
                os.unlink(artifact + ".partial")
            raise
        server = facts(cfg)
    manifest = {"id": bid, "method": method, "host": cfg["host"], "environment": cfg["environment"],
                "databases": cfg["databases"], "artifact": os.path.basename(artifact), "size_bytes": size,
                "sha256": sha256, "recipient": cfg["recipient"], "tools": tool_versions(cfg),
                "duration_s": round(time.monotonic() - clock, 1), "s3_key": None, **server}
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
    return 0


def find(store: Store, which: str) -> dict:
    local = {m["id"]: m for m in store.manifests()}
    remote = {m["id"]: m for m in store.s3_manifests()} if store.cfg["s3"] else {}
    known = {**remote, **local}
    if not known:
        raise Failure("no backup exists")
    bid = max(known) if which == "latest" else which
    if bid not in known:
        raise Failure(f"unknown backup {bid!r}; known: {sorted(known)}")
    return known[bid]


def fetch(store: Store, m: dict, keep: str | None = None) -> str:
    """The artifact's sha256 checked against its manifest: the local copy, or S3's
    (downloaded to ``keep`` when given, else only read). Returns where it was."""
    path = store.artifact(m["id"], m["method"]) if store.prefix == store.cfg["host"] else ""
    digest = hashlib.sha256()
    if os.path.exists(path):
        with open(path, "rb") as f:
            while chunk := f.read(CHUNK):
                digest.update(chunk)
        where = path
    else:
        body = store.s3().get_object(Bucket=store.cfg["s3"]["bucket"], Key=m["s3_key"])["Body"]
        out = os.fdopen(os.open(keep, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") if keep else None
        try:
            while chunk := body.read(CHUNK):
                digest.update(chunk)
                if out:
                    out.write(chunk)
        finally:
            if out:
                out.close()
        where = keep or f"s3://{store.cfg['s3']['bucket']}/{m['s3_key']}"
    if digest.hexdigest() != m["sha256"]:
        raise Failure(f"{m['id']}: {where} does not match its manifest's sha256")
    return where


def verify(store: Store, which: str) -> int:
    m = find(store, which)
    print(f"{m['id']}: {fetch(store, m)} matches sha256 {m['sha256']}")
    return 0


def pipeline(*commands: list[str], stdin_path: str) -> None:
    """commands[0] < stdin_path | commands[1] | ...; any stage failing fails it all."""
    procs, prev = [], open(stdin_path, "rb")
    for i, cmd in enumerate(commands):
        last = i == len(commands) - 1
        proc = subprocess.Popen(cmd, stdin=prev, stdout=subprocess.DEVNULL if last else subprocess.PIPE,
                                stderr=subprocess.PIPE)
        prev.close()
        prev = proc.stdout
        procs.append(proc)
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


def counts(cfg: dict) -> dict:
    return facts(cfg)["rows"]


def stage(cfg: dict, which: str, identity: str, source: str | None) -> int:
    """Everything that can fail without harm: the checksum, the decryption,
    mariadb-backup --prepare, all aside in the staging directory."""
    clock = time.monotonic()
    store = Store(cfg, prefix=source)
    m = find(store, which)
    if m["method"] != "physical":
        raise Failure(f"{m['id']} is a {m['method']} backup: only physical restores are built yet")
    work = staging(cfg)
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(os.path.join(work, "data"), mode=0o700)
    try:
        artifact = fetch(store, m, keep=os.path.join(work, "artifact"))
        print(f"{m['id']}: {artifact} matches sha256 {m['sha256']}")
        pipeline(["age", "--decrypt", "-i", identity], ["zstd", "-d", "-q"],
                 ["mbstream", "-x", "-C", os.path.join(work, "data")], stdin_path=artifact)
        os.unlink(artifact)
        sh("mariadb-backup", "--prepare", f"--target-dir={os.path.join(work, 'data')}")
        with open(os.path.join(work, "manifest.json"), "w") as f:
            json.dump({**m, "staged_s": round(time.monotonic() - clock, 1)}, f)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    print(f"{m['id']}: decrypted and prepared in {time.monotonic() - clock:.1f}s; nothing was touched")
    return 0


def staging(cfg: dict) -> str:
    return os.path.join(cfg["local_dir"], "restore")


def swap(cfg: dict) -> int:
    work = staging(cfg)
    try:
        with open(os.path.join(work, "manifest.json")) as f:
            m = json.load(f)
    except FileNotFoundError:
        raise Failure("nothing is staged: run stack-backup stage first") from None
    clock = time.monotonic()
    try:
        swap_in(cfg, os.path.join(work, "data"), m)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"restored {m['id']}: swapped in {time.monotonic() - clock:.1f}s after {m['staged_s']}s of staging; "
          "rows match the manifest")
    return 0


def swap_in(cfg: dict, staged: str, m: dict):
    datadir, aside = "/var/lib/mysql", f"/var/lib/mysql.before-{m['id']}"
    sh("systemctl", "stop", "mariadb")
    os.rename(datadir, aside)
    try:
        os.makedirs(datadir, mode=0o750)
        sh("mariadb-backup", "--copy-back", f"--target-dir={staged}", f"--datadir={datadir}")
        sh("chown", "-R", "mysql:mysql", datadir)
        sh("systemctl", "start", "mariadb")
        forget_replication(cfg)
        found = counts(cfg)
        if found != m["rows"]:
            wrong = sorted(t for t in set(found) | set(m["rows"]) if found.get(t) != m["rows"].get(t))
            raise Failure(f"row counts differ from the manifest in {wrong}")
    except BaseException:
        subprocess.run(["systemctl", "stop", "mariadb"])
        shutil.rmtree(datadir, ignore_errors=True)
        os.rename(aside, datadir)
        subprocess.run(["systemctl", "start", "mariadb"])
        print("the server is back on its data from before the restore", file=sys.stderr)
        raise
    shutil.rmtree(aside)


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
    sub.add_parser("run")
    sub.add_parser("list")
    sp = sub.add_parser("verify")
    sp.add_argument("id")
    sub.add_parser("swap")
    sp = sub.add_parser("stage")
    sp.add_argument("id")
    sp.add_argument("--identity", required=True, help="age identity file (keep it on tmpfs)")
    sp.add_argument("--from", dest="source", help="the host whose backups to read (default: this one)")
    sp = sub.add_parser("bucket")
    mode = sp.add_mutually_exclusive_group(required=True)
    mode.add_argument("--check", action="store_true")
    mode.add_argument("--ensure", action="store_true")
    args = p.parse_args(argv)
    with open(args.config) as f:
        cfg = json.load(f)
    try:
        if args.cmd == "run":
            return run(cfg)
        if args.cmd == "stage":
            return stage(cfg, args.id, args.identity, args.source)
        if args.cmd == "swap":
            return swap(cfg)
        store = Store(cfg)
        if args.cmd == "bucket":
            return bucket(store, ensure=args.ensure)
        if args.cmd == "list":
            for m in store.manifests():
                print(f"{m['id']} {m['method']} {m['size_bytes']} {'s3' if m.get('s3_key') else 'local only'}")
            return 0
        return verify(store, args.id)
    except Failure as e:
        print(f"stack-backup: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
