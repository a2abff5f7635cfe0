"""stack-backup archive: the primary's binlogs to S3 as they close; and what a
point-in-time restore takes back from there."""

from __future__ import annotations

import concurrent.futures
import datetime
import os
import re
import shutil
import subprocess
import sys
import time

from .commands import pipeline
from .server import DATADIR
from .store import Failure, Store, backup_id, download, id_time, key_started, sha256_of


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


def check_timeline(chosen: list[str], backup: str):
    """The binlogs to replay follow each other. A restore makes the primary begin anew
    at binlog 1, as PostgreSQL begins a timeline: what came before it on the old
    timeline was given up, so no replay crosses it from a backup taken before."""
    numbers = [int(os.path.basename(k).split(".")[-3]) for k in chosen]
    for i in range(1, len(numbers)):
        if numbers[i] < numbers[i - 1]:
            raise Failure(f"a restore began a new timeline at {key_started(chosen[i]):%Y-%m-%dT%H:%M:%SZ}, after "
                          f"backup {backup}: restore to a time before it, or from a backup taken after it")
        if numbers[i] != numbers[i - 1] + 1:
            raise Failure(f"the binlog archive has a gap between {chosen[i - 1]} and {chosen[i]}")


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
    check_timeline(chosen, m["id"])
    os.makedirs(os.path.join(work, "binlog"), mode=0o700)
    bucket = store.cfg["s3"]["bucket"]

    def fetch_one(key: str) -> str:
        name = os.path.basename(key).split("-", 1)[1][:-len(".zst.age")]
        path, sealed = os.path.join(work, "binlog", name), os.path.join(work, "binlog", f"{name}.sealed")
        wanted = store.s3().head_object(Bucket=bucket, Key=key)["Metadata"].get("sha256")
        if download(store, key, sealed) != wanted:
            raise Failure(f"s3://{bucket}/{key} does not match its sha256")
        pipeline(["age", "--decrypt", "-i", identity], ["zstd", "-d", "-q"], stdin_path=sealed, stdout_path=path)
        os.unlink(sealed)
        return path

    # one binlog per core at a time: each is a download, then a single-threaded decrypt and decompress
    with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        paths = list(pool.map(fetch_one, chosen))
    print(f"{len(paths)} archived binlog(s) from {os.path.basename(paths[0])}, to replay up to "
          f"{until:%Y-%m-%dT%H:%M:%SZ}")
    return paths


def copy_local_binlogs(first: str, work: str) -> list[str]:
    """This server's binlogs from ``first`` (the backup's) to the newest, copied into
    work/binlog: the swap moves the datadir they live in aside."""
    with open(os.path.join(DATADIR, "mysql-bin.index")) as f:
        names = [os.path.basename(line.strip()) for line in f if line.strip()]
    if first not in names:
        raise Failure(f"this server no longer has the binlog {first} its backup began in "
                      f"(it has {names[0] if names else 'none'} onwards)")
    os.makedirs(os.path.join(work, "binlog"), mode=0o700)
    paths = []
    for name in names[names.index(first):]:
        paths.append(os.path.join(work, "binlog", name))
        shutil.copyfile(os.path.join(DATADIR, name), paths[-1])
    print(f"{len(paths)} binlog(s) of this server from {first}, to replay")
    return paths


def gtid_seqs(position: str) -> dict[tuple[str, str], int]:
    """"0-1-42,1-1-7" -> {(domain, server): seq}."""
    out = {}
    for gtid in filter(None, position.replace(" ", "").split(",")):
        domain, server, seq = gtid.split("-")
        out[(domain, server)] = int(seq)
    return out


def gtid_covers(position: str, target: str) -> bool:
    """Whether ``position`` already holds every transaction up to ``target``: then there
    is nothing to replay (a backup taken when nothing was written until the target)."""
    have = {domain: seq for (domain, _), seq in gtid_seqs(position).items()}
    return all(have.get(domain, -1) >= seq for (domain, _), seq in gtid_seqs(target).items())


def gtid_reaches(target: str, position: str) -> bool:
    """Whether replay from ``position`` can reach ``target``: no domain of the
    position is already past the target's."""
    want = {domain: seq for (domain, _), seq in gtid_seqs(target).items()}
    return all(seq <= want.get(domain, seq) for (domain, _), seq in gtid_seqs(position).items())
