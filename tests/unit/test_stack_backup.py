"""stack-backup's decisions that need no server: ids and retention."""

import datetime

from stack.hosttools.stack_backup import backup_id, expired, id_time

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
