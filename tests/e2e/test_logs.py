"""tasks/logs.py on the testbed: the rotations are valid for logrotate, the journal is
capped, and the weekly archive puts an encrypted tarball of the logs in S3 that only
the backups' identity opens. The archive and its state are removed afterwards."""

import io
import subprocess
import tarfile
import time

import pytest

from testbed.access import BACKUP_IDENTITY


@pytest.mark.parametrize("name, conf", [("web1", "/etc/logrotate.d/nginx"), ("db1", "/etc/logrotate.d/mariadb")])
def test_logrotate_accepts_the_rotation(host, name, conf):
    out = host(name).run(f"logrotate --debug {conf}")
    assert out.rc == 0 and not [line for line in out.stderr.splitlines() if line.startswith("error:")], out.stderr


def test_journald_runs_with_the_limits(host):
    h = host("app1")
    assert "MaxRetentionSec=14day" in h.file("/etc/systemd/journald.conf.d/stack.conf").content_string
    assert h.service("systemd-journald").is_running
    assert h.file("/var/log/journal").is_directory  # persistent: kept across reboots


def archive_keys(bucket):
    return [o["Key"] for o in bucket("list_objects_v2", Prefix="logs/web1/").get("Contents", [])]


@pytest.fixture
def archived(host, bucket):
    h = host("web1")
    for key in archive_keys(bucket):  # the timer's run at the deploy made one: only this run's stays
        bucket("delete_object", Key=key)
    h.run_expect([0], "logger -t stack-logs-test a-line-to-find-in-the-archive")
    for _ in range(20):  # journald takes it in on its own time
        if "a-line-to-find" in h.run("journalctl -t stack-logs-test --no-pager").stdout:
            break
        time.sleep(0.5)
    time.sleep(1.1)  # an archive ends at a whole second: the line's second is in the next one otherwise
    yield h.run("systemctl start stack-log-archive.service")
    for key in archive_keys(bucket):
        bucket("delete_object", Key=key)
    h.run_expect([0], "rm -f /var/lib/stack/logs/archived-until")


def test_the_weekly_archive_is_encrypted_in_s3_and_holds_the_journal(archived, bucket, testbed):
    assert archived.rc == 0, archived.stderr
    # read from S3, not from the unit's journal: journald may not have its last line yet
    [key] = archive_keys(bucket)
    blob = bucket("get_object", Key=key)["Body"]
    assert b"a-line-to-find" not in blob  # encrypted
    plain = subprocess.run(["age", "-d", "-i", str(testbed.state_dir / BACKUP_IDENTITY)], input=blob,
                           capture_output=True, check=True).stdout
    tar = subprocess.run(["zstd", "-d", "-c"], input=plain, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as t:
        journal = t.extractfile("journal.log").read()
    assert b"a-line-to-find-in-the-archive" in journal
