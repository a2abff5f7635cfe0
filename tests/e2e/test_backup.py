"""tasks/backup_schedule.py and tasks/backup.py on the testbed: stack-backup on db2
(the replica, the backup source), to the testbed's real S3 server (SeaweedFS on the
bridge address). Leaves the backups it made; the databases are untouched."""

import datetime
import getpass
import hashlib
import json
import os
import re
import signal
import subprocess
import time

import pytest

from testbed import s3 as testbed_s3
from testbed.access import BACKUP_IDENTITY
from tests.e2e.helpers import (
    back_up,
    binlog_keys,
    offsite,
    points,
    pyinfra_on_testbed,
    query,
    replica_reconnected,
    rows,
    utc_now,
)

LOCAL = "/var/backups/stack"



@pytest.fixture(scope="module")
def made(host):
    proc = back_up()
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc.manifest = json.loads(host("db2").file(f"{LOCAL}/{proc.backup_id}.json").content_string)
    return proc


def test_the_backup_flow_leaves_an_audit_log_row_saying_who_ran_it_and_how_it_ended(made, host):
    row = host("db1").check_output("mariadb -N -e \"SELECT actor, action, detail FROM sales.audit_log "
                                   "WHERE action = 'backup' ORDER BY id DESC LIMIT 1\"").split("\t")
    assert row[:2] == [getpass.getuser(), "backup"]
    assert row[2].startswith("tasks/backup.py from ") and "; succeeded in " in row[2]


def test_each_backup_is_a_backup_record_row_on_the_primary(made, host):
    row = host("db1").check_output("mariadb -N -e \"SELECT method, host, size_bytes, sha256, s3_key FROM "
                                   f"sales.backup_record WHERE backup_id = '{made.backup_id}'\"").split("\t")
    m = made.manifest
    assert row == [m["method"], "db2", str(m["size_bytes"]), m["sha256"], m["s3_key"]]


def test_the_timer_runs_on_the_backup_source_only(host):
    assert host("db2").service("stack-backup.timer").is_enabled and host("db2").service("stack-backup.timer").is_running
    assert not host("db1").service("stack-backup.timer").is_enabled
    assert "OnCalendar=*-*-* 02:00:00" in host("db2").file("/etc/systemd/system/stack-backup.timer").content_string


def test_the_config_is_root_only_and_holds_no_private_key(host, secrets):
    config = host("db2").file("/etc/stack/backup.json")
    assert (config.mode, config.user) == (0o600, "root")
    assert secrets["backup_age_recipient"] in config.content_string
    assert "AGE-SECRET-KEY" not in host("db2").check_output("grep -rs AGE-SECRET-KEY /etc /var/backups || true")


@pytest.mark.every_release
def test_the_task_prints_the_id_size_duration_and_s3_key(made):
    out = made.stdout + made.stderr
    assert re.search(rf"backup {made.backup_id}: physical, \d+ bytes, sha256 [0-9a-f]{{64}}, [\d.]+s", out)
    assert f"uploaded {made.backup_id} to s3://stack-backups/db2/{made.backup_id}/" in out


@pytest.mark.every_release
def test_the_object_in_s3_has_the_manifests_size_and_sha256(made, bucket):
    m = made.manifest
    head = bucket("head_object", Key=m["s3_key"])
    assert (head["ContentLength"], head["Metadata"]["sha256"]) == (m["size_bytes"], m["sha256"])
    stored = json.loads(bucket("get_object", Key=f"db2/{m['id']}/manifest.json")["Body"])
    assert stored == m


@pytest.mark.every_release
def test_the_manifest_records_rows_revision_position_and_tools(made):
    m = made.manifest
    assert {"sales.sale", "sales.sale_item", "sales.stock_move", "sales.alembic_version"} <= set(m["rows"])
    assert m["alembic_revision"] and m["gtid_current_pos"] and m["duration_s"] >= 0
    assert {"zstd", "age", "mariadb-backup"} <= set(m["tools"])


@pytest.mark.every_release
def test_the_artifact_is_encrypted_and_decrypts_to_a_backup_of_the_databases(made, bucket, testbed, tmp_path):
    data = bucket("get_object", Key=made.manifest["s3_key"])["Body"]
    assert data.startswith(b"age-encryption.org/v1")
    plain = subprocess.run(f"age -d -i {testbed.state_dir / BACKUP_IDENTITY} | zstd -d", shell=True, input=data,
                           capture_output=True, check=True).stdout
    assert b"sales/sale.ibd" in plain and b"ibdata1" in plain  # mbstream names the files it carries


def test_a_corrupted_artifact_fails_verification(made, host):
    h, path = host("db2"), f"{LOCAL}/{made.manifest['artifact']}"
    assert h.run(f"stack-backup verify {made.backup_id}").rc == 0
    flip = "import sys; f = open(sys.argv[1], 'r+b'); f.seek(100); b = f.read(1); f.seek(100); f.write(bytes([b[0] ^ 1]))"
    h.run_expect([0], "python3 -c %s %s", flip, path)
    try:
        bad = h.run(f"stack-backup verify {made.backup_id}")
        assert bad.rc == 2 and "does not match its manifest's sha256" in bad.stderr
    finally:
        h.run_expect([0], "python3 -c %s %s", flip, path)



def test_a_backup_writes_a_backup_point_with_its_size(made, host):
    assert [r[1:] for r in rows(query(host, "admin", "SELECT success, size_bytes, host, method FROM backup "
                                                     f"WHERE size_bytes = {made.manifest['size_bytes']}"))] \
        == [[1, made.manifest["size_bytes"], "db2", "physical"]]


def test_with_s3_down_the_backup_is_kept_and_the_next_run_uploads_it(made, testbed, secrets, host, bucket):
    since = utc_now()
    weed = [int(p) for p in os.listdir("/proc") if p.isdigit() and _cmdline(p).startswith(testbed_s3.weed())
            and str(testbed.state_dir) in _cmdline(p)]
    for pid in weed:
        os.kill(pid, signal.SIGKILL)
    try:
        failed = back_up()
    finally:
        testbed_s3.start(testbed.state_dir, testbed.gateway, testbed.subnet, secrets["s3_access_key_id"],
                         secrets["s3_secret_access_key"])
    assert failed.returncode != 0 and failed.backup_id, (failed.stdout + failed.stderr)[-3000:]
    assert "the local backup is kept; the next run uploads it" in failed.stdout + failed.stderr
    kept = json.loads(host("db2").file(f"{LOCAL}/{failed.backup_id}.json").content_string)
    assert kept["s3_key"] is None
    assert [r[1] for r in points(host, "backup", since)] == [0]  # the failure is on record
    again = back_up()
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"uploaded {failed.backup_id} to s3://" in again.stdout + again.stderr
    assert bucket("head_object", Key=f"db2/{failed.backup_id}/{kept['artifact']}")["Metadata"]["sha256"] == \
        kept["sha256"]


def _cmdline(pid: str) -> str:
    try:
        return open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode()
    except OSError:
        return ""


KILL = """
import glob, json, subprocess, sys, time
run = subprocess.Popen(["stack-backup", "run"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
killed = False
while run.poll() is None and not killed:
    if glob.glob(sys.argv[1] + "/*.partial"):  # the stream has started
        killed = subprocess.run(["pkill", "-KILL", "-x", "mariadbd"]).returncode == 0
    time.sleep(0.001)
out, err = run.communicate()
print(json.dumps({"killed": killed, "rc": run.returncode, "out": out, "err": err}))
"""


def test_mysqld_killed_mid_backup_leaves_no_manifest_nor_partial_file_and_the_next_run_succeeds(made, host):
    h = host("db2")
    before = set(h.file(LOCAL).listdir())
    for _ in range(5):  # the tiny testbed database backs up in a blink: try until the kill lands mid-stream
        result = json.loads(h.check_output("python3 -c %s %s", KILL, LOCAL))
        _server_back(h)
        if result["killed"]:
            break
        before = set(h.file(LOCAL).listdir())
    assert result["killed"] and result["rc"] == 2, result
    assert "backup failed" in result["err"]
    assert set(h.file(LOCAL).listdir()) == before  # nothing of the killed run stayed
    replica_reconnected(h)
    again = back_up()
    assert again.returncode == 0, again.stderr[-3000:]


def _server_back(h):
    deadline = time.monotonic() + 60
    while h.run("mariadb -e 'SELECT 1'").rc != 0:
        assert time.monotonic() < deadline, "mariadb did not come back"
        h.run("systemctl start mariadb")
        time.sleep(1)


def test_retention_deletes_only_expired_backups_locally_and_in_s3(made, host, bucket):
    h, now = host("db2"), datetime.datetime.now(datetime.timezone.utc)
    ids = {age: (now - datetime.timedelta(days=age)).strftime("%Y%m%dT%H%M%SZ") for age in (3, 10, 40)}
    for age, bid in ids.items():  # earlier backups, as runs long ago left them (the data is not needed)
        m = {**made.manifest, "id": bid, "artifact": f"{bid}.physical.zst.age",
             "s3_key": f"db2/{bid}/{bid}.physical.zst.age"}
        bucket("put_object", Key=m["s3_key"], Body=b"old")
        bucket("put_object", Key=f"db2/{bid}/manifest.json", Body=json.dumps(m).encode())
        h.run_expect([0], "python3 -c %s %s %s", "import sys; open(sys.argv[1], 'w').write(sys.argv[2])",
                     f"{LOCAL}/{bid}.json", json.dumps(m))
        h.run_expect([0], "touch %s", f"{LOCAL}/{m['artifact']}")
    try:
        proc = back_up()
        assert proc.returncode == 0, proc.stderr[-3000:]
        local = h.file(LOCAL).listdir()
        # local copies are kept 7 days, S3's 30
        assert f"{ids[3]}.json" in local and f"{ids[3]}.physical.zst.age" in local
        assert not {f"{ids[10]}.json", f"{ids[10]}.physical.zst.age", f"{ids[40]}.json"} & set(local)
        in_s3 = {o["Key"].split("/")[1] for o in bucket("list_objects_v2", Prefix="db2/").get("Contents", [])}
        assert {ids[3], ids[10]} <= in_s3 and ids[40] not in in_s3
    finally:  # back as it was: the made-up backups gone
        for bid in ids.values():
            for name in (f"{bid}.json", f"{bid}.physical.zst.age"):
                h.run("rm -f %s", f"{LOCAL}/{name}")
                bucket("delete_object", Key=f"db2/{bid}/{name}")
            bucket("delete_object", Key=f"db2/{bid}/manifest.json")


def test_the_binlog_archive_runs_on_the_backup_source_only(host):
    assert host("db2").service("stack-binlog-archive").is_running
    assert host("db2").service("stack-binlog-archive").is_enabled
    assert not host("db1").service("stack-binlog-archive").is_enabled



@pytest.mark.every_release
def test_a_committed_transaction_is_offsite_within_the_flush_interval(host, bucket):
    from tests.helpers import MEASUREMENTS
    flush = int(host("db2").check_output("python3 -c %s", "import json; print(json.load(open("
                                         "'/etc/stack/backup.json'))['binlog']['flush_seconds'])"))
    # a write, leaving nothing behind
    seconds = offsite(host, bucket, write=("CREATE TABLE sales.rpo_probe (id INT PRIMARY KEY); "
                                           "DROP TABLE sales.rpo_probe", "rpo_probe"))
    MEASUREMENTS.append(f"binlog archive RPO: a write was offsite after {seconds:.1f}s (flush every {flush}s)")
    assert seconds <= flush + 10


@pytest.mark.every_release
def test_archived_binlogs_are_encrypted_and_carry_their_sha256(host, bucket):
    offsite(host, bucket, flush=True)
    key = sorted(binlog_keys(bucket))[-1]
    obj = bucket("get_object", Key=key)
    assert obj["Body"].startswith(b"age-encryption.org/v1")
    assert obj["Metadata"]["sha256"] == hashlib.sha256(obj["Body"]).hexdigest()


@pytest.fixture
def backup_webhook(webhook_receiver):
    """The db hosts' writer config with the failure webhook on, for one test."""
    proc = pyinfra_on_testbed("tasks/backup_schedule.py", "--limit", "db2", "--data", "influxdb_failure_webhook=true",
                              env={"STACK_ALERT_WEBHOOK_URL": webhook_receiver.url})
    assert proc.returncode == 0, proc.stderr[-2000:]
    yield webhook_receiver
    assert pyinfra_on_testbed("tasks/backup_schedule.py", "--limit", "db2").returncode == 0


def test_a_failed_backup_from_the_timer_reaches_the_webhook_without_a_secret(host, backup_webhook, secrets):
    h = host("db2")
    h.run_expect([0], "systemctl stop mariadb")
    try:
        h.run_expect([1], "systemctl start stack-backup.service")  # as the timer starts it: no controller
    finally:
        h.run_expect([0], "systemctl start mariadb")
    replica_reconnected(h)
    (posted,) = backup_webhook.received
    assert posted["measurement"] == "backup" and posted["tags"]["host"] == "db2" and posted["fields"]["success"] == "0"
    assert not [name for name, value in secrets.items() if value in json.dumps(posted)]


def test_a_successful_backup_from_the_timer_is_noticed_at_the_webhook_too(host, backup_webhook):
    host("db2").run_expect([0], "systemctl start stack-backup.service")
    (posted,) = backup_webhook.received
    assert posted["text"].startswith("backup succeeded: ") and posted["fields"]["success"] == "1"


def test_no_secret_is_on_a_command_line_of_the_db_hosts(host, secrets):
    # stack-backup and the binlog archive (mariadb-binlog) are running on db2
    for name in ("db1", "db2"):
        processes = host(name).check_output("ps -eo args")
        assert "mariadb-binlog" in processes or name == "db1"
        assert [s for s, value in secrets.items() if value in processes] == []
