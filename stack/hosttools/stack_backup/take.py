"""stack-backup run: the stream to an encrypted artifact, the manifest, the upload, retention."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import time

from .commands import report
from .server import DATADIR, dump_command, facts, record_backup
from .store import CHUNK, Failure, Store, backup_id, now, prune


def source_command(cfg: dict) -> list[str]:
    if cfg["method"] == "physical":
        # --target-dir is only where mariadb-backup keeps its own temporary files.
        return ["mariadb-backup", "--backup", "--stream=mbstream", "--target-dir=/tmp", "--user=root",
                f"--socket={cfg['socket']}", f"--parallel={min(4, os.cpu_count() or 1)}"]
    return dump_command(cfg["socket"], cfg["databases"], "--gtid", "--master-data=2")


def stream(cfg: dict, dest: str, command: list[str] | None = None) -> tuple[int, str]:
    """source (the backup's, or ``command``) | zstd | age into ``dest``: (size, sha256).
    Any stage failing fails it all."""
    source = subprocess.Popen(command or source_command(cfg), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
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


def datadir_bytes(path: str = DATADIR) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files
               if os.path.isfile(os.path.join(d, f)))


@contextlib.contextmanager
def exclusive(store: Store, wait: bool = False):
    """One stack-backup at a time on a host: the timer's, ops' and the drill's runs
    would otherwise clean up each other's work in progress. ``wait``: for the one
    running to end, instead of refusing (a flow putting data back after its
    controller died, whose own stage or swap may still be running; a backup started
    while another runs: the timer's and ops' never fail for each other)."""
    import fcntl

    os.makedirs(store.dir, mode=0o700, exist_ok=True)
    with open(os.path.join(store.dir, ".lock"), "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                raise Failure(f"another stack-backup is running on this host (it holds {lock.name})") from None
            print(f"waiting for the stack-backup running on this host to end (it holds {lock.name})",
                  file=sys.stderr, flush=True)
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def leftovers(store: Store) -> list[str]:
    """What a killed run leaves: partial files, and artifacts without a manifest
    (never a backup). Only called under the lock."""
    names = os.listdir(store.dir)
    backed = {n[:-len(".json")] for n in names if n.endswith(".json")}
    return [os.path.join(store.dir, n) for n in names
            if n.endswith(".partial") or (n.endswith(".zst.age") and n.split(".")[0] not in backed)]


def run(cfg: dict, wait: bool = False) -> int:
    store = Store(cfg)
    with exclusive(store, wait):
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
        if cfg.get("record_table"):
            record_backup(cfg, next(m for m in store.manifests() if m["id"] == bid))  # with its S3 key, if any
        if not failures:
            for line in prune(store, now()):
                print(f"pruned {line}")
        if failures:
            raise Failure("; ".join(failures) + " (the local backup is kept; the next run uploads it)")
    report(cfg, ["stack-influx", "write", "backup"], method=method, duration_s=manifest["duration_s"],
           size_bytes=size, success=1)
    return 0
