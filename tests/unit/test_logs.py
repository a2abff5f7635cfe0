"""Logs (tasks/logs.py): the rotation and journal limits as rendered for production,
and what stack-backup logs picks to archive and to remove."""

import datetime
import os

from stack.hosttools.stack_backup import logs
from tests.helpers import load_inventory, render_for

WEB, DB = "web1.prod.example.com", "db1.prod.example.com"
UTC = datetime.timezone.utc


def render(host, name):
    return render_for(load_inventory("production"), host, f"templates/logs/{name}.j2")


def test_the_journal_is_kept_14_days_and_at_most_1g():
    conf = render(WEB, "journald.conf")
    assert "MaxRetentionSec=14day" in conf and "SystemMaxUse=1G" in conf and "Storage=persistent" in conf


def test_nginx_and_mariadb_logs_rotate_daily_compressed_for_14_days():
    for host, name in ((WEB, "nginx.logrotate"), (DB, "mariadb.logrotate")):
        conf = render(host, name)
        assert all(f"\t{word}\n" in conf for word in ("daily", "rotate 14", "compress", "dateext")), name


def test_the_archive_runs_weekly_on_sunday_at_three_and_catches_up_after_downtime():
    timer = render(WEB, "stack-log-archive.timer")
    assert "OnCalendar=Sun *-*-* 03:00:00" in timer and "Persistent=true" in timer


def test_only_rotations_compressed_since_the_last_archive_are_taken(tmp_path):
    last, now = datetime.datetime(2026, 11, 29, 3, tzinfo=UTC), datetime.datetime(2026, 12, 6, 3, tzinfo=UTC)
    made = {}
    for name, at in (("access.log-20261128.gz", last - datetime.timedelta(hours=1)),  # in the last archive
                     # Saturday's, compressed on Monday (delaycompress): its mtime is Saturday's, before
                     # the last archive; made after it, so this archive takes it
                     ("access.log-20261129.gz", datetime.datetime(2026, 11, 30, 0, 5, tzinfo=UTC)),
                     ("access.log-20261203.gz", datetime.datetime(2026, 12, 3, tzinfo=UTC))):
        (tmp_path / name).write_text("x")
        made[str(tmp_path / name)] = at.timestamp()
    (tmp_path / "access.log").write_text("x")  # not rotated: not matched
    taken = logs.rotated([str(tmp_path / "*.gz")], last, now, made=made.__getitem__)
    assert [os.path.basename(p) for p in taken] == ["access.log-20261129.gz", "access.log-20261203.gz"]


def test_archives_past_their_days_are_removed_and_the_rest_kept():
    keys = ["logs/web1/20261101T030000Z/logs.tar.zst.age", "logs/web1/20261129T030000Z/logs.tar.zst.age"]
    at = datetime.datetime(2026, 12, 6, 3, tzinfo=UTC)
    assert logs.expired(keys, 30, at) == keys[:1]


def test_before_the_first_archive_there_is_no_last_one(tmp_path):
    assert logs.last_archived(str(tmp_path / "archived-until")) is None
