"""tasks/restore.py on the testbed: db2's physical backup, from the testbed's S3,
restored onto db1 after its data is gone; db2 is seeded again from it. Refusals
touch nothing. Ends with the data as it was before the test."""

import subprocess

import pytest

from stack.testbed.access import BACKUP_IDENTITY
from tests.e2e.conftest import pyinfra_on_testbed
from tests.e2e.test_backup import back_up
from tests.e2e.test_deploy import replica_reconnected

TABLES = "sales.sale, sales.sale_item, sales.stock_move, sales.alembic_version"
FLAG = "/var/www/maintenance/on"


def checksums(h) -> dict[str, str]:
    out = h.check_output(f"mariadb -N -e 'CHECKSUM TABLE {TABLES} EXTENDED'")
    return dict(line.split("\t") for line in out.splitlines())


def server_run(h) -> str:
    """Changes whenever the server was stopped or restarted."""
    return h.check_output("systemctl show mariadb -p InvocationID --value")


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


def test_a_malformed_backup_id_is_refused_before_any_host_is_contacted(testbed):
    proc = restore(testbed, "backup_id=latest;reboot")
    assert proc.returncode != 0 and "no host was contacted" in proc.stderr
    assert "backup_id: 'latest;reboot' is not 'latest' or a backup id" in proc.stderr


def test_a_restore_after_the_data_is_lost_gives_back_identical_tables(testbed, host, backed_up):
    before, bid = backed_up
    host("db1").run_expect([0], "mariadb -e 'DROP DATABASE sales'")
    proc = restore(testbed, f"backup_id={bid}")
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert f"restored {bid}" in proc.stdout + proc.stderr
    assert checksums(host("db1")) == before
    assert not host("web1").file(FLAG).exists
    replica_reconnected(host("db2"))
    assert checksums(host("db2")) == before
