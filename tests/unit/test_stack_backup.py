"""stack-backup's decisions that need no server: ids, retention, the binlog archive's keys."""

import datetime
import json
import subprocess
import time

import pytest

from stack.hosttools.stack_backup.archive import check_timeline, gtid_covers, gtid_reaches
from stack.hosttools.stack_backup.catalogue import binlog_range
from stack.hosttools.stack_backup.cli import main
from stack.hosttools.stack_backup.drill import differences
from stack.hosttools.stack_backup.restore import binlog_info
from stack.hosttools.stack_backup.store import (
    Failure,
    Store,
    backup_id,
    expired,
    find,
    id_time,
    key_started,
    unneeded_binlogs,
)
from stack.hosttools.stack_backup.take import exclusive

NOW = datetime.datetime(2026, 11, 25, 2, 0, tzinfo=datetime.timezone.utc)


def manifests(*days_ago):
    return [{"id": backup_id(NOW - datetime.timedelta(days=d))} for d in sorted(days_ago, reverse=True)]


def test_ids_sort_as_time_and_read_back():
    assert backup_id(NOW) == "20261125T020000Z" and id_time(backup_id(NOW)) == NOW
    assert sorted([backup_id(NOW), backup_id(NOW - datetime.timedelta(hours=1))])[0].endswith("010000Z")


def test_only_backups_older_than_the_kept_days_expire():
    assert [m["id"] for m in expired(manifests(40, 31, 29, 1), 30, NOW)] == [
        backup_id(NOW - datetime.timedelta(days=40)), backup_id(NOW - datetime.timedelta(days=31))]


def test_the_newest_backup_never_expires_whatever_its_age():
    assert expired(manifests(90), 30, NOW) == []
    assert [m["id"] for m in expired(manifests(90, 60), 30, NOW)] == [backup_id(NOW - datetime.timedelta(days=90))]


def binlog(at: datetime.datetime, n: int) -> str:
    return f"db2/binlog/{backup_id(at)}-mysql-bin.{n:06d}.zst.age"


def test_archived_binlogs_are_kept_from_the_one_the_oldest_backup_was_taken_in():
    hours = [binlog(NOW - datetime.timedelta(hours=h), 10 - h) for h in (9, 7, 5, 3, 1)]
    oldest_backup = NOW - datetime.timedelta(hours=6)  # taken in the binlog begun 7 h ago
    assert unneeded_binlogs(hours, oldest_backup) == hours[:1]


def test_the_newest_archived_binlog_is_never_unneeded():
    keys = [binlog(NOW - datetime.timedelta(days=40), 1)]
    assert unneeded_binlogs(keys, NOW) == []


def test_a_binlog_key_sorts_and_reads_back_as_the_time_it_began():
    key = binlog(NOW, 3)
    assert key_started(key) == NOW and key.endswith("-mysql-bin.000003.zst.age")


MANIFEST = {"rows": {"sales.sale": 10, "sales.sale_item": 30}, "alembic_revision": "0004"}


def test_the_drill_compares_exact_row_counts():
    found = {"rows": {"sales.sale": 10, "sales.sale_item": 29}, "alembic_revision": "0004"}
    assert "rows" in differences(found, MANIFEST)
    assert differences({**found, "rows": MANIFEST["rows"]}, MANIFEST) is None


def test_the_drill_of_a_backup_taken_under_writes_compares_tables_and_revision_not_counts():
    under_writes = {**MANIFEST, "rows_exact": False}
    moved = {"rows": {"sales.sale": 12, "sales.sale_item": 35}, "alembic_revision": "0004"}
    assert differences(moved, under_writes) is None
    assert "tables" in differences({**moved, "rows": {"sales.sale": 12}}, under_writes)
    assert "revision" in differences({**moved, "alembic_revision": "0003"}, under_writes)


@pytest.mark.parametrize("command", [["swap"], ["stage", "20261201T000000Z", "--identity", "/nonexistent"],
                                     ["drill", "latest", "--identity", "/nonexistent"], ["run"]])
def test_without_wait_each_is_refused_while_another_stack_backup_holds_the_host(tmp_path, capsys, command):
    cfg = {"local_dir": str(tmp_path / "backups"), "host": "db1", "method": "physical"}
    (tmp_path / "backup.json").write_text(json.dumps(cfg))
    with exclusive(Store(cfg)):  # a backup (or another restore) running on this host
        assert main(["--config", str(tmp_path / "backup.json"), *command]) == 2
    assert "another stack-backup is running on this host" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["mariadb_backup_binlog_info", "xtrabackup_binlog_info"])
def test_the_backups_binlog_position_is_found_by_its_11_8_name_and_its_10_11_name(tmp_path, name):
    (tmp_path / name).write_text("mysql-bin.000007\t385\t0-1-42\n")
    assert binlog_info(str(tmp_path)) == str(tmp_path / name)


@pytest.mark.parametrize("command", [["stage", "20261201T000000Z", "--identity", "/nonexistent"], ["run"]])
def test_with_wait_a_stage_or_a_backup_waits_for_the_stack_backup_running_here_to_end(tmp_path, capsys, command):
    cfg = {"local_dir": str(tmp_path / "backups"), "host": "db1", "method": "physical",
           "socket": str(tmp_path / "no.sock")}
    (tmp_path / "backup.json").write_text(json.dumps(cfg))
    (tmp_path / "backups").mkdir()
    lock = str(tmp_path / "backups" / ".lock")
    # another process holds the host's lock for a moment (a thread would not do: gevent, which
    # pyinfra brings, makes flock block the whole process)
    holder = subprocess.Popen(["flock", lock, "sleep", "1"])
    while subprocess.run(["flock", "-n", lock, "true"]).returncode == 0:
        time.sleep(0.05)
    # it gets past the lock (and fails later, on the missing backup or server), never refused for it
    assert main(["--config", str(tmp_path / "backup.json"), "--wait", *command]) == 2
    assert holder.wait() == 0
    err = capsys.readouterr().err
    assert "waiting for the stack-backup running on this host to end" in err
    assert "another stack-backup is running" not in err


@pytest.mark.parametrize("position, reaches", [
    ("0-1-40", True), ("0-1-42", True),  # replay from there can stop at 0-1-42
    ("0-1-43", False),  # the backup is already past it
    ("0-1-40,1-1-9", True), ("", True),  # a domain the target does not name is no obstacle
])
def test_a_gtid_target_is_reachable_only_from_a_backup_not_past_it(position, reaches):
    assert gtid_reaches("0-1-42", position) is reaches


def test_latest_physical_skips_newer_logical_backups(tmp_path):
    store = Store({"local_dir": str(tmp_path), "host": "db1", "s3": None})
    for bid, method in (("20261201T000000Z", "physical"), ("20261202T000000Z", "logical")):
        (tmp_path / f"{bid}.json").write_text(json.dumps({"id": bid, "method": method}))
    assert find(store, "latest", method="physical")["id"] == "20261201T000000Z"
    assert find(store, "latest")["id"] == "20261202T000000Z"


@pytest.mark.parametrize("position, covered", [("0-1-42", True), ("0-1-43,1-1-2", True), ("0-1-41", False),
                                               ("", False), ("1-1-50", False)])
def test_a_backup_already_at_the_target_has_nothing_to_replay(position, covered):
    assert gtid_covers(position, "0-1-42") is covered


def test_a_replay_never_crosses_a_restore_from_a_backup_taken_before_it():
    before, after = datetime.datetime(2026, 11, 25, 3), datetime.datetime(2026, 11, 25, 5)
    chosen = [binlog(before, 7), binlog(before + datetime.timedelta(minutes=5), 8), binlog(after, 1)]
    with pytest.raises(Failure, match="a restore began a new timeline at 2026-11-25T05:00:00Z"):
        check_timeline(chosen, "20261125T020000Z")


def test_a_missing_binlog_in_the_archive_is_a_gap():
    at = datetime.datetime(2026, 11, 25, 3)
    with pytest.raises(Failure, match="has a gap"):
        check_timeline([binlog(at, 7), binlog(at + datetime.timedelta(minutes=5), 9)], "20261125T020000Z")


def test_consecutive_binlogs_pass_the_timeline_check():
    at = datetime.datetime(2026, 11, 25, 3)
    check_timeline([binlog(at, 7), binlog(at + datetime.timedelta(minutes=5), 8)], "20261125T020000Z")


def test_the_binlogs_a_backup_can_replay_end_where_its_timeline_ends():
    at = datetime.datetime(2026, 11, 25, 3)
    keys = [binlog(at, 6), binlog(at + datetime.timedelta(hours=1), 7), binlog(at + datetime.timedelta(hours=2), 8),
            binlog(at + datetime.timedelta(hours=3), 1)]  # a restore began anew
    m = {"id": backup_id(at + datetime.timedelta(minutes=90))}
    assert binlog_range(m, keys) == "mysql-bin.000007..mysql-bin.000008 (to 2026-11-25T05:00:00Z and on)"
    assert binlog_range({"id": backup_id(at - datetime.timedelta(hours=1))}, keys) == "none archived"


def test_a_long_read_says_bytes_rate_and_time_left(capsys, monkeypatch):
    from stack.hosttools.stack_backup import store
    clock = iter([0.0, 10.0, 20.0])
    monkeypatch.setattr(store.time, "monotonic", lambda: next(clock))
    progress = store.Progress("reading s3 db2/x", 300 * 2**20, every=10)
    progress.add(100 * 2**20)  # at 10 s
    progress.add(100 * 2**20)  # at 20 s
    said = capsys.readouterr().err.splitlines()
    assert said == ["stack-backup: reading s3 db2/x: 100 of 300 MiB, 10.0 MiB/s, 20s left",
                    "stack-backup: reading s3 db2/x: 200 of 300 MiB, 10.0 MiB/s, 10s left"]
