"""tasks/backup_schedule.py and tasks/backup.py on the testbed: stack-backup on db2
(the replica, the backup source), to the testbed's real S3 server (SeaweedFS on the
bridge address). Leaves the backups it made; the databases are untouched."""

import base64
import json
import os
import re
import signal
import subprocess
import sys

import pytest

from stack.testbed import s3 as testbed_s3
from stack.testbed.access import BACKUP_IDENTITY
from tests.e2e.conftest import pyinfra_on_testbed

LOCAL = "/var/backups/stack"


# boto3 runs in a process of its own: pyinfra's CLI, which the tests import, has
# gevent patch ssl after ssl was imported, and boto3 then recurses in SSLContext.
S3 = """
import base64, json, sys
import boto3
cfg, method, kw = json.loads(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3])
if "Body" in kw:
    kw["Body"] = base64.b64decode(kw["Body"])
out = getattr(boto3.client("s3", **cfg), method)(Bucket="stack-backups", **kw)
if "Body" in out:
    out["Body"] = base64.b64encode(out["Body"].read()).decode()
print(json.dumps(out, default=str))
"""


@pytest.fixture(scope="module")
def bucket(testbed, secrets):
    """bucket(method, **arguments): one boto3 S3 call on the testbed's bucket; a Body is bytes."""
    cfg = json.dumps({"endpoint_url": testbed.load_state()["s3_endpoint"], "region_name": "us-east-1",
                      "aws_access_key_id": secrets["s3_access_key_id"],
                      "aws_secret_access_key": secrets["s3_secret_access_key"]})

    def call(method, **kw):
        if "Body" in kw:
            kw["Body"] = base64.b64encode(kw["Body"]).decode()
        proc = subprocess.run([sys.executable, "-c", S3, cfg, method, json.dumps(kw)], capture_output=True,
                              text=True, check=True)
        out = json.loads(proc.stdout)
        if "Body" in out:
            out["Body"] = base64.b64decode(out["Body"])
        return out
    return call


def back_up():
    proc = pyinfra_on_testbed("tasks/backup.py", json_output=False)
    proc.backup_id = (re.findall(r"backup (\d{8}T\d{6}Z): ", proc.stdout + proc.stderr) or [None])[-1]
    return proc


@pytest.fixture(scope="module")
def made(host):
    proc = back_up()
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc.manifest = json.loads(host("db2").file(f"{LOCAL}/{proc.backup_id}.json").content_string)
    return proc


def test_the_timer_runs_on_the_backup_source_only(host):
    assert host("db2").service("stack-backup.timer").is_enabled and host("db2").service("stack-backup.timer").is_running
    assert not host("db1").service("stack-backup.timer").is_enabled
    assert "OnCalendar=*-*-* 02:00:00" in host("db2").file("/etc/systemd/system/stack-backup.timer").content_string


def test_the_config_is_root_only_and_holds_no_private_key(host, secrets):
    config = host("db2").file("/etc/stack/backup.json")
    assert (config.mode, config.user) == (0o600, "root")
    assert secrets["backup_age_recipient"] in config.content_string
    assert "AGE-SECRET-KEY" not in host("db2").check_output("grep -rs AGE-SECRET-KEY /etc /var/backups || true")


def test_the_task_prints_the_id_size_duration_and_s3_key(made):
    out = made.stdout + made.stderr
    assert re.search(rf"backup {made.backup_id}: physical, \d+ bytes, sha256 [0-9a-f]{{64}}, [\d.]+s", out)
    assert f"uploaded {made.backup_id} to s3://stack-backups/db2/{made.backup_id}/" in out


def test_the_object_in_s3_has_the_manifests_size_and_sha256(made, bucket):
    m = made.manifest
    head = bucket("head_object", Key=m["s3_key"])
    assert (head["ContentLength"], head["Metadata"]["sha256"]) == (m["size_bytes"], m["sha256"])
    stored = json.loads(bucket("get_object", Key=f"db2/{m['id']}/manifest.json")["Body"])
    assert stored == m


def test_the_manifest_records_rows_revision_position_and_tools(made):
    m = made.manifest
    assert {"sales.sale", "sales.sale_item", "sales.stock_move", "sales.alembic_version"} <= set(m["rows"])
    assert m["alembic_revision"] and m["gtid_current_pos"] and m["duration_s"] >= 0
    assert {"zstd", "age", "mariadb-backup"} <= set(m["tools"])


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


def test_with_s3_down_the_backup_is_kept_and_the_next_run_uploads_it(made, testbed, secrets, host, bucket):
    weed = [int(p) for p in os.listdir("/proc") if p.isdigit() and _cmdline(p).startswith(testbed_s3.weed())
            and str(testbed.state_dir) in _cmdline(p)]
    for pid in weed:
        os.kill(pid, signal.SIGKILL)
    try:
        failed = back_up()
    finally:
        testbed_s3.start(testbed.state_dir, testbed.gateway, testbed.subnet, secrets["s3_access_key_id"],
                         secrets["s3_secret_access_key"])
    assert failed.returncode != 0 and failed.backup_id
    assert "the local backup is kept; the next run uploads it" in failed.stdout + failed.stderr
    kept = json.loads(host("db2").file(f"{LOCAL}/{failed.backup_id}.json").content_string)
    assert kept["s3_key"] is None
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
