"""tasks/migrate.py on the testbed, through deploy.py (the same flow) and alone: a
release whose new revision fails after a partial DDL, under a steady load; a host
left out by --limit; the plan shown by --dry. Ends with the schema and the
releases serving as it found them."""


import pytest

from testbed.load import Load
from tests.e2e.helpers import (
    FLAG,
    checksums,
    points,
    pyinfra_on_testbed,
    release_of,
    release_with_revision,
    replica_reconnected,
    utc_now,
)

APPS = ("app1", "app2")

def columns(h) -> str:
    return h.check_output("mariadb -N -e \"SELECT GROUP_CONCAT(column_name ORDER BY column_name) FROM "
                          "information_schema.columns WHERE table_schema = 'sales' AND table_name = 'sale'\"")


@pytest.fixture(scope="module")
def failing(tmp_path_factory):
    """--data for a release whose revision 0005 makes a DDL, then fails."""
    return release_with_revision(
        tmp_path_factory.mktemp("failing"), "v-failing", "fault injection: a DDL, then a statement that fails",
        ["ALTER TABLE sale ADD COLUMN injected INT NULL, ALGORITHM=INSTANT, LOCK=NONE", "UPDATE no_such_table SET x = 1"],
        ["ALTER TABLE sale DROP COLUMN injected, ALGORITHM=INSTANT, LOCK=NONE"])


def not_maintenance(failures: list[str]) -> list[str]:
    return [f for f in failures if not (f.startswith("503") and "maintenance" in f.lower())]


def test_a_migration_failing_after_a_partial_ddl_is_undone_and_no_host_switches(host, address, failing):
    db1 = host("db1")
    before = {"tables": checksums(db1), "columns": columns(db1), "releases": {release_of(host(h)) for h in APPS}}
    since = utc_now()
    with Load(address("web1"), rate=60) as load:
        proc = pyinfra_on_testbed("deploy.py", *[a for d in failing for a in ("--data", d)], json_output=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "the migration failed" in out and "no app host switched; each keeps serving its release" in out
    assert "the database is back on the pre-migration backup" in out
    assert checksums(db1) == before["tables"] and columns(db1) == before["columns"]
    assert {release_of(host(h)) for h in APPS} == before["releases"]
    assert not host("web1").file(FLAG).exists
    assert not_maintenance(load.failures) == []  # the restore ran behind the maintenance page
    replica_reconnected(host("db2"))
    assert checksums(host("db2")) == before["tables"]
    assert [p[1] for p in points(host, "migration", since)] == [0]
    assert not db1.file("/run/stack-migrate").exists  # this run's key is gone


def test_dry_shows_the_pending_revision_and_its_sql_and_changes_nothing(host, failing):
    # the failing one, installed (its id may predate others': a build of the same content is reused)
    found = host("app1").check_output("ls -d /srv/sales/releases/*/migrations/versions/0005_test.py")
    release = found.split("/")[4]
    proc = pyinfra_on_testbed("tasks/migrate.py", "--dry", "--data", f"release={release}", json_output=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "schema at 0004; head 0005; pending:" in out and "0005 fault injection" in out
    assert "ALTER TABLE sale ADD COLUMN injected INT NULL" in out
    assert "injected" not in columns(host("db1"))


def test_an_app_host_left_out_of_the_run_by_limit_never_switches_to_an_unmigrated_release(host, failing):
    before = release_of(host("app2"))
    proc = pyinfra_on_testbed("deploy.py", "--limit", "app2", *[a for d in failing for a in ("--data", d)],
                              json_output=False)
    assert proc.returncode != 0
    assert "has pending migrations, and app1, which runs them, is not in this run (--limit)" in proc.stdout + proc.stderr
    assert release_of(host("app2")) == before
