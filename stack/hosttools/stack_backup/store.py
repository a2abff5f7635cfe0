"""The backups on this host and in S3: artifacts, manifests, checksums, retention
and the bucket. An artifact is encrypted before it is written (take.stream):
nothing here ever holds a plaintext byte."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import sys
import time

CHUNK = 1 << 20


class Failure(Exception):
    pass


DRILLED = "drill.json"  # next to a manifest in S3: the last drill that restored the backup


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def backup_id(at: datetime.datetime) -> str:
    """Sortable UTC time: the id, and the order of backups."""
    return at.strftime("%Y%m%dT%H%M%SZ")


def id_time(bid: str) -> datetime.datetime:
    return datetime.datetime.strptime(bid, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)


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
        # a session of its own: boto3's default one is not safe to make clients from in threads
        return boto3.session.Session().client(
            "s3", endpoint_url=s3["endpoint"], aws_access_key_id=s3["access_key_id"],
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

    def s3_manifests(self, every_host: bool = False) -> list[dict]:
        """This host's backups in S3 (the prefix's), or every host's."""
        client, bucket = self.s3(), self.cfg["s3"]["bucket"]
        out = []
        prefix = "" if every_host else self.prefix + "/"
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
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
            for name in (os.path.basename(m["artifact"]), "manifest.json", DRILLED):
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


def find(store: Store, which: str, before: datetime.datetime | None = None, method: str | None = None) -> dict:
    """A backup's manifest: by id, or the latest (taken before ``before``, of ``method``, when given)."""
    local = {m["id"]: m for m in store.manifests()}
    remote = {m["id"]: m for m in store.s3_manifests()} if store.cfg["s3"] else {}
    known = {**remote, **local}
    if not known:
        raise Failure("no backup exists")
    if which == "latest":
        candidates = [bid for bid, m in known.items()
                      if (before is None or id_time(bid) <= before) and method in (None, m["method"])]
        if not candidates:
            what = f"no {method} backup" if method else "no backup"
            raise Failure(f"{what} was taken before {before:%Y-%m-%dT%H:%M:%SZ}" if before else f"{what} exists")
        which = max(candidates)
    bid = which
    if bid not in known and store.cfg["s3"]:  # another host's, a pre-migration backup of the primary say
        known.update({m["id"]: m for m in store.s3_manifests(every_host=True)})
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


class Progress:
    """A long read said every ``every`` seconds: bytes of the total, rate, time left."""

    def __init__(self, what: str, total: int, every: float = 10.0):
        self.what, self.total, self.every = what, total, every
        self.done, self.start = 0, time.monotonic()
        self.said = self.start

    def add(self, n: int):
        self.done += n
        now = time.monotonic()
        if now - self.said >= self.every:
            self.said = now
            print(self.line(now), file=sys.stderr, flush=True)  # stdout may be a command's answer

    def line(self, now: float) -> str:
        rate = self.done / max(now - self.start, 1e-6)
        left = (self.total - self.done) / rate if rate else 0
        return (f"stack-backup: {self.what}: {self.done / 2**20:.0f} of {self.total / 2**20:.0f} MiB, "
                f"{rate / 2**20:.1f} MiB/s, {left:.0f}s left")


def download(store: Store, key: str, keep: str | None) -> str:
    """An S3 object's sha256, as it is read (and written to ``keep``, 0600, when given)."""
    obj, digest = store.s3().get_object(Bucket=store.cfg["s3"]["bucket"], Key=key), hashlib.sha256()
    body, progress = obj["Body"], Progress(f"reading s3 {key}", obj["ContentLength"])
    out = os.fdopen(os.open(keep, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") if keep else None
    try:
        while chunk := body.read(CHUNK):
            digest.update(chunk)
            progress.add(len(chunk))
            if out:
                out.write(chunk)
    finally:
        if out:
            out.close()
    return digest.hexdigest()


def sha256_of(path: str) -> str:
    digest, progress = hashlib.sha256(), Progress(f"checking {os.path.basename(path)}", os.path.getsize(path))
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            progress.add(len(chunk))
    return digest.hexdigest()


def verify(store: Store, which: str) -> int:
    m = find(store, which)
    print(f"{m['id']}: {fetch(store, m)} matches sha256 {m['sha256']}")
    return 0


def key_started(key: str) -> datetime.datetime:
    return id_time(os.path.basename(key).split("-")[0])


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
