"""stack-backup stage and swap: a backup fetched, checked and prepared aside, then put
in place (the server's data as it was comes back if anything fails)."""

from __future__ import annotations

import datetime
import json
import os
import shutil
import subprocess
import sys
import time

from .archive import copy_local_binlogs, gtid_covers, gtid_reaches, stage_binlogs
from .commands import pipeline, report, sh
from .replay import replay
from .server import DATADIR, dump_command, facts, forget_replication, load, recreate
from .store import Failure, Store, fetch, find, id_time, now


# The file mariadb-backup writes the position into: renamed in MariaDB 11 (11.8 on Debian 13).
BINLOG_INFO = ("mariadb_backup_binlog_info", "xtrabackup_binlog_info")


def binlog_info(datadir: str) -> str:
    """The prepared backup's binlog position file, by either name."""
    for name in BINLOG_INFO:
        if os.path.exists(os.path.join(datadir, name)):
            return os.path.join(datadir, name)
    raise Failure(f"the backup in {datadir} has no binlog position ({' or '.join(BINLOG_INFO)})")


def staging(cfg: dict) -> str:
    return os.path.join(cfg["local_dir"], "restore")


def stage(cfg: dict, which: str, identity: str, source: str | None, databases: list[str] | None = None,
          work: str | None = None, until: str | None = None, until_gtid: str | None = None,
          local_binlogs: bool = False) -> dict:
    """Everything that can fail without harm, all aside in ``work``: the checksum,
    the decryption, and mariadb-backup --prepare (physical) or a full read of the
    dump (logical). ``databases``: only these (logical backups only). ``until``
    (UTC, 2026-11-25T14:30:00Z) or ``until_gtid`` (a GTID position, included): the
    binlogs up to there, to replay: from the archive, or with ``local_binlogs``
    this server's own (a failed migration's put-back, up to its freeze point)."""
    clock = time.monotonic()
    store = Store(cfg, prefix=source)
    target = None
    if until:
        target = datetime.datetime.strptime(until, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.timezone.utc)
        if target > now():
            raise Failure(f"until {until} is in the future")
    pitr = bool(until or until_gtid)
    # a point in time replays binlogs onto a physical copy: a dump's position is only as
    # exact as its one transaction, and a logical load is not what replay starts from
    m = find(store, which, before=target, method="physical" if pitr and which == "latest" else None)
    if pitr and m["method"] != "physical":
        raise Failure(f"a point-in-time restore starts from a physical backup; {m['id']} is a {m['method']} "
                      "backup (name a physical one, or restore this one without a target)")
    if target and target < id_time(m["id"]):
        raise Failure(f"backup {m['id']} was taken after {until}: name one taken before it")
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
            pipeline(decrypt, ["zstd", "-d", "-q"],
                     ["mbstream", "-x", f"--parallel={os.cpu_count() or 1}", "-C", os.path.join(work, "data")],
                     stdin_path=artifact)
            sh("mariadb-backup", "--prepare", f"--target-dir={os.path.join(work, 'data')}")
            # the position the backup is consistent at, as mariadb-backup took it (under its
            # commit lock): where a point-in-time replay starts
            with open(binlog_info(os.path.join(work, "data"))) as f:
                position = f.read().split() + ["", "", ""]
            m = {**m, "binlog_file": position[0], "gtid_current_pos": position[2]}
            if until_gtid and not gtid_reaches(until_gtid, m["gtid_current_pos"]):
                raise Failure(f"backup {m['id']} is at GTID {m['gtid_current_pos']}, past {until_gtid}: "
                              "name one taken before it")
        else:  # kept compressed in this root-only directory, read through once
            pipeline(decrypt, stdin_path=artifact, stdout_path=os.path.join(work, "dump.sql.zst"))
            sh("zstd", "-t", "-q", os.path.join(work, "dump.sql.zst"))
        if artifact == os.path.join(work, "artifact"):  # a download; never the local backup itself
            os.unlink(artifact)
        if until_gtid and gtid_covers(m["gtid_current_pos"], until_gtid):
            binlogs = []
        elif local_binlogs and pitr:
            binlogs = copy_local_binlogs(m["binlog_file"], work)
        elif pitr:
            binlogs = stage_binlogs(store, m, target or now(), work, identity)
        else:
            binlogs = []
        staged = {**m, "restore_databases": databases, "until": until, "until_gtid": until_gtid,
                  "binlogs": binlogs}
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
    target = m["until"] or m.get("until_gtid")
    replayed = f"; binlogs replayed up to {target}" if target else ""
    print(f"restored {m['id']} ({', '.join(m['restore_databases'])}): swapped in {time.monotonic() - clock:.1f}s "
          f"after {m['staged_s']}s of staging; rows match the manifest{replayed}; RTO {rto:.1f}s")
    return 0


def swap_datadir(cfg: dict, staged: str, m: dict):
    datadir, aside = DATADIR, f"{DATADIR}.before-{m['id']}"
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
        if m["until"] or m.get("until_gtid"):
            replay(cfg, m)
    except BaseException:
        subprocess.run(["systemctl", "stop", "mariadb"])
        shutil.rmtree(datadir, ignore_errors=True)
        os.rename(aside, datadir)
        subprocess.run(["systemctl", "start", "mariadb"])
        print("the server is back on its data from before the restore", file=sys.stderr)
        raise
    shutil.rmtree(aside)


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
