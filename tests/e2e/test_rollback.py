"""tasks/rollback.py on the testbed: a release is deployed, then rolled back under a
steady load; refusals touch nothing. Ends on the release it found."""

import re
import time

import pytest

from testbed.load import Load
from tests.e2e.helpers import (
    APP,
    TEST_REVISION,
    back_up,
    checksums,
    points,
    pyinfra_on_testbed,
    release_of,
    release_with_revision,
    replica_reconnected,
    utc_now,
    variant,
)
from tests.helpers import MEASUREMENTS

APPS = ("app1", "app2")


def logs(host) -> dict[str, str]:
    return {h: host(h).file(f"{APP}/revisions.log").content_string for h in APPS}


@pytest.fixture(scope="module")
def deployed(host, tmp_path_factory):
    """(the release found, a newer one deployed over it on both app hosts)."""
    found = release_of(host("app1"))
    proc = pyinfra_on_testbed("deploy.py", "--data", f"app_source={variant(tmp_path_factory.mktemp('rb'), 'v-rb')}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return found, release_of(host("app1"))


def test_an_unknown_release_is_refused_before_anything_is_touched(host, deployed):
    before = logs(host)
    proc = pyinfra_on_testbed("tasks/rollback.py", "--data", "release=20000101000000-000000000000", json_output=False)
    assert proc.returncode != 0
    assert "release 20000101000000-000000000000 is not installed on app1, app2" in proc.stderr
    assert logs(host) == before and {release_of(host(h)) for h in APPS} == {deployed[1]}


def test_a_malformed_release_id_is_refused_before_any_host_is_contacted():
    proc = pyinfra_on_testbed("tasks/rollback.py", "--data", "release=../../etc")
    assert proc.returncode != 0 and "no host was contacted" in proc.stderr


def test_a_release_missing_on_one_host_is_refused_before_anything_is_touched(host, deployed):
    found = deployed[0]
    host("app2").run_expect([0], "mv %s %s", f"{APP}/releases/{found}", f"{APP}/releases/{found}.away")
    try:
        proc = pyinfra_on_testbed("tasks/rollback.py", json_output=False)
    finally:
        host("app2").run_expect([0], "mv %s %s", f"{APP}/releases/{found}.away", f"{APP}/releases/{found}")
    assert proc.returncode != 0 and f"release {found} is not installed on app2" in proc.stderr
    assert {release_of(host(h)) for h in APPS} == {deployed[1]}


def test_a_rollback_to_the_previous_release_under_load_fails_no_request(host, address, deployed):
    found, newer = deployed
    since = utc_now()
    with Load(address("web1"), rate=60) as load:
        started = time.monotonic()
        proc = pyinfra_on_testbed("tasks/rollback.py", json_output=False)
        seconds = time.monotonic() - started
    MEASUREMENTS.append(f"app-only rollback of 2 app hosts: {seconds:.1f}s wall for the pyinfra command, "
                        f"{load.rps:.0f} req/s, {len(load.failures)} failed")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert load.failures == [] and load.rps >= 50
    assert {release_of(host(h)) for h in APPS} == {found}
    assert all(f"rollback {found} (was {newer})" in log for log in logs(host).values())
    assert re.search(rf"recorded: rollback {found} by deploy \(success, [\d.]+s\)", proc.stdout + proc.stderr)
    audit = host("db1").check_output("mariadb -N -e 'SELECT action, target, detail FROM sales.audit_log "
                                     "ORDER BY id DESC LIMIT 1'")
    assert audit.split("\t") == ["rollback", found, f"from {newer}"]
    assert [p[1:] for p in points(host, "rollback", since, "success, release")] == [[1, found]]


def schema_revision(host) -> str:
    return host("db1").check_output("mariadb -N -e 'SELECT version_num FROM sales.alembic_version'")


@pytest.fixture(scope="module")
def v2(host, deployed, tmp_path_factory):
    """v1 (the release found) serving; v2 deployed over it with revision TEST_REVISION applied."""
    data = release_with_revision(tmp_path_factory.mktemp("v2"), "v2", "a table of v2's own, dropped with its rows",
                                 ["CREATE TABLE rollback_probe (id INT PRIMARY KEY)"], ["DROP TABLE rollback_probe"],
                                 destructive=True)
    v1, v1_schema = release_of(host("app1")), schema_revision(host)
    proc = pyinfra_on_testbed("deploy.py", *[a for d in data for a in ("--data", d)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert schema_revision(host) == TEST_REVISION
    return v1, v1_schema, release_of(host("app1"))


def test_a_downgrade_across_a_destructive_revision_without_a_backup_is_refused(host, v2):
    proc = pyinfra_on_testbed("tasks/rollback.py", "--data", "db=downgrade", json_output=False)
    assert proc.returncode != 0
    assert f"undoes destructive revisions ({TEST_REVISION}): their data would be lost" in proc.stderr
    assert {release_of(host(h)) for h in APPS} == {v2[2]} and schema_revision(host) == TEST_REVISION


def test_v2_rolled_back_with_its_schema_serves_v1_on_v1s_schema_and_fails_no_request(host, address, v2):
    v1, v1_schema, newer = v2
    made = back_up()
    assert made.returncode == 0, made.stderr[-3000:]
    with Load(address("web1"), rate=60) as load:
        proc = pyinfra_on_testbed("tasks/rollback.py", "--data", "db=downgrade", "--data",
                                  f"backup_id={made.backup_id}", json_output=False)
    MEASUREMENTS.append(f"rollback of app and schema (2 app hosts): {load.seconds - 2:.1f}s, "
                        f"{load.rps:.0f} req/s, {len(load.failures)} failed")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert load.failures == []
    assert {release_of(host(h)) for h in APPS} == {v1} and schema_revision(host) == v1_schema
    assert "rollback_probe" not in host("db1").check_output("mariadb -N -e 'SHOW TABLES FROM sales'")
    assert f"downgraded: the schema is at {v1_schema}" in proc.stdout + proc.stderr


def test_a_downgrade_and_a_restore_together_are_refused_before_any_host_is_touched(host, deployed):
    before = logs(host)
    proc = pyinfra_on_testbed("tasks/rollback.py", "--data", "db=downgrade", "--data", "restore_backup=latest",
                              json_output=False)
    assert proc.returncode != 0 and "both put the database back: choose one" in proc.stderr
    assert logs(host) == before


def test_a_rollback_with_a_backup_restores_the_database_after_the_app(host, testbed, deployed, tmp_path):
    from testbed.access import BACKUP_IDENTITY
    v1 = release_of(host("app1"))
    made = back_up()
    assert made.returncode == 0, made.stderr[-3000:]
    before = checksums(host("db1"))
    assert pyinfra_on_testbed("deploy.py", "--data", f"app_source={variant(tmp_path, 'v3')}").returncode == 0
    host("db1").run_expect([0], "mariadb -e 'INSERT INTO sales.sale (total) VALUES (1.00)'")  # v3's write
    proc = pyinfra_on_testbed("tasks/rollback.py", "--data", f"restore_backup={made.backup_id}", json_output=False,
                              env={"STACK_BACKUP_AGE_IDENTITY_FILE": str(testbed.state_dir / BACKUP_IDENTITY)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert {release_of(host(h)) for h in APPS} == {v1}
    assert checksums(host("db1")) == before and f"restored {made.backup_id}" in proc.stdout + proc.stderr
    replica_reconnected(host("db2"))
    assert checksums(host("db2")) == before
