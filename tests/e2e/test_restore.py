"""tasks/restore.py on the testbed: db2's physical backup, from the testbed's S3,
restored onto db1 after its data is gone; db2 is seeded again from it. Refusals
touch nothing. Ends with the data as it was before the test."""

import json
import re
import subprocess
import time

import pytest

from testbed.access import BACKUP_IDENTITY
from testbed.load import Load
from tests.e2e.helpers import (
    FLAG,
    back_up,
    checksums,
    not_retryable,
    offsite,
    points,
    pyinfra_on_testbed,
    replica_reconnected,
    server_run,
    utc_now,
)

pytestmark = pytest.mark.every_release


def restore(testbed, *data, identity=None):
    return pyinfra_on_testbed("tasks/restore.py", *[a for d in data for a in ("--data", d)], json_output=False,
                              env={"STACK_BACKUP_AGE_IDENTITY_FILE": str(identity or testbed.state_dir / BACKUP_IDENTITY)})


@pytest.fixture(scope="module")
def backed_up(host):
    before = checksums(host("db1"))
    made = back_up()
    assert made.returncode == 0, made.stderr[-3000:]
    return before, made.backup_id


def test_a_wrong_identity_is_refused_before_anything_is_touched(testbed, host, backed_up, tmp_path):
    other = tmp_path / "other-identity.txt"
    subprocess.run(["age-keygen", "-o", str(other)], check=True, capture_output=True)
    run = server_run(host("db1"))
    proc = restore(testbed, f"backup_id={backed_up[1]}", identity=other)
    assert proc.returncode != 0 and "no identity matched any of the recipients" in proc.stdout + proc.stderr
    assert server_run(host("db1")) == run and not host("web1").file(FLAG).exists
    assert not host("db1").file("/run/stack-restore").exists  # the identity is gone too


def test_an_unknown_backup_is_refused_before_anything_is_touched(testbed, host, backed_up):
    run = server_run(host("db1"))
    proc = restore(testbed, "backup_id=20000101T000000Z")
    assert proc.returncode != 0 and "unknown backup '20000101T000000Z'" in proc.stdout + proc.stderr
    assert server_run(host("db1")) == run and not host("web1").file(FLAG).exists


def test_a_corrupted_backup_in_s3_is_refused_before_anything_is_touched(testbed, host, backed_up, bucket):
    m = json.loads(host("db2").file(f"/var/backups/stack/{backed_up[1]}.json").content_string)
    good = bucket("get_object", Key=m["s3_key"])
    bad = bytearray(good["Body"])
    bad[len(bad) // 2] ^= 1
    bucket("put_object", Key=m["s3_key"], Body=bytes(bad), Metadata=good["Metadata"])
    run = server_run(host("db1"))
    try:
        proc = restore(testbed, f"backup_id={backed_up[1]}")
    finally:
        bucket("put_object", Key=m["s3_key"], Body=good["Body"], Metadata=good["Metadata"])
    assert proc.returncode != 0 and "does not match its manifest's sha256" in proc.stdout + proc.stderr
    assert server_run(host("db1")) == run and not host("web1").file(FLAG).exists


def test_a_malformed_backup_id_is_refused_before_any_host_is_contacted(testbed):
    proc = restore(testbed, "backup_id=latest;reboot")
    assert proc.returncode != 0 and "no host was contacted" in proc.stderr
    assert "backup_id: 'latest;reboot' is not 'latest' or a backup id" in proc.stderr


def test_a_single_database_from_a_physical_backup_is_refused_before_anything_is_touched(testbed, host, backed_up):
    run = server_run(host("db1"))
    proc = restore(testbed, f"backup_id={backed_up[1]}", "backup_database=sales")
    assert proc.returncode != 0 and "is a physical backup: it restores whole" in proc.stdout + proc.stderr
    assert server_run(host("db1")) == run and not host("web1").file(FLAG).exists


def restored_after_loss(testbed, host, secrets, before, bid, *data):
    """The sales database dropped on the primary, then restored: the tables are
    identical, on the replica too, and the site is out of maintenance."""
    host("db1").run_expect([0], "mariadb -e 'DROP DATABASE sales'")
    since = utc_now()
    proc = restore(testbed, f"backup_id={bid}", *data)
    assert proc.returncode == 0, proc.stderr[-4000:]
    out = proc.stdout + proc.stderr
    assert "AGE-SECRET-KEY" not in out and not [n for n, v in secrets.items() if v in out]
    assert checksums(host("db1")) == before
    assert not host("web1").file(FLAG).exists
    replica_reconnected(host("db2"))
    assert checksums(host("db2")) == before
    proc.points = points(host, "restore", since, "success, duration_s, kind, method")
    return proc


def test_a_physical_restore_after_the_data_is_lost_gives_back_identical_tables(testbed, host, secrets, backed_up):
    proc = restored_after_loss(testbed, host, secrets, *backed_up)
    assert re.search(rf"restored {backed_up[1]} \(sales\): .* RTO [\d.]+s", proc.stdout + proc.stderr)
    ((_, success, rto, kind, method),) = proc.points
    assert (success, kind, method) == (1, "restore", "physical") and rto > 0


def test_a_logical_restore_after_the_data_is_lost_gives_back_identical_tables(testbed, host, secrets):
    before = checksums(host("db1"))
    made = back_up("backup_method=logical")
    assert made.returncode == 0, made.stderr[-3000:]
    assert f"backup {made.backup_id}: logical" in made.stdout + made.stderr
    proc = restored_after_loss(testbed, host, secrets, before, made.backup_id)
    assert [p[3:] for p in proc.points] == [["restore", "logical"]]


def test_a_single_database_restore_from_a_logical_backup_leaves_other_databases_alone(testbed, host, secrets):
    h, before = host("db1"), checksums(host("db1"))
    made = back_up("backup_method=logical")
    assert made.returncode == 0, made.stderr[-3000:]
    h.run_expect([0], "mariadb -e 'CREATE DATABASE other; CREATE TABLE other.t (id INT PRIMARY KEY); "
                      "INSERT INTO other.t VALUES (7)'")
    try:
        restored_after_loss(testbed, host, secrets, before, made.backup_id, "backup_database=sales")
        assert h.check_output("mariadb -N -e 'SELECT id FROM other.t'") == "7"
    finally:
        h.run_expect([0], "mariadb -e 'DROP DATABASE IF EXISTS other'")


def test_a_point_in_time_restore_keeps_what_was_written_before_the_target_and_not_after(testbed, host, bucket):
    h = host("db1")
    h.run_expect([0], "mariadb -e 'CREATE TABLE sales.pitr_probe (id INT PRIMARY KEY)'")
    try:
        made = back_up()
        assert made.returncode == 0, made.stderr[-3000:]
        before = checksums(h)
        time.sleep(1.1)  # binlog times are whole seconds
        h.run_expect([0], "mariadb -e 'INSERT INTO sales.pitr_probe VALUES (1)'")
        time.sleep(1.1)
        until = utc_now()
        time.sleep(1.1)
        h.run_expect([0], "mariadb -e 'INSERT INTO sales.pitr_probe VALUES (2)'")
        offsite(host, bucket, flush=True)
        proc = restore(testbed, f"until={until}")
        assert proc.returncode == 0, proc.stderr[-4000:]
        assert f"restored {made.backup_id} (sales)" in proc.stdout + proc.stderr
        assert f"binlogs replayed up to {until}" in proc.stdout + proc.stderr
        assert h.check_output("mariadb -N -e 'SELECT id FROM sales.pitr_probe'") == "1"
        assert checksums(h) == before
        replica_reconnected(host("db2"))
        assert host("db2").check_output("mariadb -N -e 'SELECT id FROM sales.pitr_probe'") == "1"
    finally:
        h.run_expect([0], "mariadb -e 'DROP TABLE IF EXISTS sales.pitr_probe'")


def test_every_backup_is_listed_and_one_the_primary_took_restores_by_its_id(testbed, host, backed_up):
    made = host("db1").check_output("stack-backup run")  # as a migration's pre-migration backup: on the primary
    bid = re.findall(r"backup (\d{8}T\d{6}Z): ", made)[-1]
    before = checksums(host("db1"))
    listed = pyinfra_on_testbed("tasks/list_backups.py", json_output=False)
    assert listed.returncode == 0, listed.stderr[-3000:]
    lines = {line.split()[0]: line.split() for line in (listed.stdout + listed.stderr).splitlines()
             if re.match(r"\d{8}T\d{6}Z ", line)}
    assert lines[bid][1:3] == ["db1", "physical"] and lines[backed_up[1]][1:3] == ["db2", "physical"]
    proc = restore(testbed, f"backup_id={bid}")  # the restore reads the backup source's backups first
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert f"restored {bid} (sales)" in proc.stdout + proc.stderr
    assert checksums(host("db1")) == before


def sales_of(h, sku: str) -> set[int]:
    return set(map(int, h.check_output(f"mariadb -N -e \"SELECT sale_id FROM sales.sale_item WHERE sku = '{sku}'\"")
                   .split()))


def writes_of(sku: str):
    return [("POST", "/sales", json.dumps({"items": [{"sku": sku, "qty": 1, "price": "1.00"}]}).encode())]


def test_a_restore_to_a_gtid_under_writes_keeps_every_write_before_it_and_none_after(testbed, host, bucket, address):
    h = host("db1")
    made = back_up()
    assert made.returncode == 0, made.stderr[-3000:]
    with Load(address("web1"), requests=writes_of("PITR-BEFORE"), rate=None, workers=4) as before_target:
        time.sleep(2)
        # a point every acknowledged write is before or after: writes held (503) for a moment
        target = json.loads(h.check_output("stack-mysql freeze"))["gtid"]
        at_target, sums_at_target = sales_of(h, "PITR-BEFORE"), checksums(h)
        h.run_expect([0], "stack-mysql thaw")
        time.sleep(2)
    assert at_target and sales_of(h, "PITR-BEFORE") > at_target  # writes came after the target too
    offsite(host, bucket, flush=True)
    with Load(address("web1"), requests=writes_of("PITR-DURING"), rate=None, workers=4) as during:
        proc = restore(testbed, f"backup_id={made.backup_id}", f"until_gtid={target}")
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert f"binlogs replayed up to {target}" in proc.stdout + proc.stderr
    replica_reconnected(host("db2"))
    assert sales_of(h, "PITR-BEFORE") == at_target == sales_of(host("db2"), "PITR-BEFORE")
    # the parallel apply gave back the tables as they were at the target, byte for byte,
    # once the writes the load made after maintenance went off are taken out again
    h.run_expect([0], "mariadb sales -e \"DELETE s, i, m FROM sale s JOIN sale_item i ON i.sale_id = s.id "
                      "JOIN stock_move m ON m.reason = CONCAT('sale ', s.id) WHERE i.sku = 'PITR-DURING'\"")
    assert checksums(h) == sums_at_target
    assert not_retryable(before_target.failures + during.failures) == []  # clients were only asked to retry


def test_a_point_in_time_in_the_future_is_refused_before_anything_is_touched(testbed, host):
    run = server_run(host("db1"))
    proc = restore(testbed, "until=2099-01-01T00:00:00Z")
    assert proc.returncode != 0 and "until 2099-01-01T00:00:00Z is in the future" in proc.stdout + proc.stderr
    assert server_run(host("db1")) == run and not host("web1").file(FLAG).exists
