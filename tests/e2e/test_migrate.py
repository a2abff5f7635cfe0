"""tasks/migrate.py on the testbed, through deploy.py (the same flow) and alone: a
release whose new revision fails after a partial DDL, while clients write sales
through nginx; the controller killed at each step and the same command run again;
a host left out by --limit; the plan shown by --dry. Every 201 is a row afterwards
and every refusal a 503 with Retry-After. Ends with the schema, the data tier and
the releases serving as it found them."""

import time

import pytest

from testbed.load import Load
from tests.e2e.helpers import (
    FLAG,
    HEAD,
    TEST_REVISION,
    WRITES,
    checksums,
    lost_writes,
    not_retryable,
    points,
    pyinfra_killed_at,
    pyinfra_on_testbed,
    release_of,
    release_with_revision,
    replica_reconnected,
    utc_now,
)
from tests.helpers import MEASUREMENTS

APPS = ("app1", "app2")

def columns(h) -> str:
    return h.check_output("mariadb -N -e \"SELECT GROUP_CONCAT(column_name ORDER BY column_name) FROM "
                          "information_schema.columns WHERE table_schema = 'sales' AND table_name = 'sale'\"")


@pytest.fixture(scope="module")
def failing(tmp_path_factory):
    """--data for a release whose revision TEST_REVISION makes a DDL, then fails."""
    return release_with_revision(
        tmp_path_factory.mktemp("failing"), "v-failing", "fault injection: a DDL, then a statement that fails",
        ["ALTER TABLE sale ADD COLUMN injected INT NULL, ALGORITHM=INSTANT, LOCK=NONE", "UPDATE no_such_table SET x = 1"],
        ["ALTER TABLE sale DROP COLUMN injected, ALGORITHM=INSTANT, LOCK=NONE"])


def settled(host) -> dict:
    """What a migration flow must leave, whatever happened: a writable primary, no
    maintenance page, no journal or key, no flow lock."""
    return {"read_only": host("db1").check_output("mariadb -N -e 'SELECT @@read_only'"),
            "maintenance": host("web1").file(FLAG).exists, "journal": host("db1").file("/run/stack-migrate").exists,
            "locks": [h for h in ("db1", "web1", "app1") if host(h).file("/home/deploy/.stack-flow-lock").exists]}


SETTLED = {"read_only": "0", "maintenance": False, "journal": False, "locks": []}


def test_a_migration_failing_after_a_partial_ddl_is_undone_keeping_every_acknowledged_write(host, address, failing):
    db1 = host("db1")
    before = {"columns": columns(db1), "releases": {release_of(host(h)) for h in APPS}}
    since = utc_now()
    with Load(address("web1"), requests=WRITES, rate=None, workers=4) as load:
        proc = pyinfra_on_testbed("deploy.py", *[a for d in failing for a in ("--data", d)], json_output=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "the migration failed" in out and "no app host switched; each keeps serving its release" in out
    assert "the database is back on the pre-migration backup" in out and "with every write up to the freeze" in out
    assert columns(db1) == before["columns"]
    assert {release_of(host(h)) for h in APPS} == before["releases"]
    assert settled(host) == SETTLED
    replica_reconnected(host("db2"))
    assert checksums(host("db2")) == checksums(db1)
    assert lost_writes(host, load) == {}
    assert not_retryable(load.failures) == []
    refused = [r[0] for r in load.records if r[2] != 201]
    MEASUREMENTS.append(f"failed migration under 4 writers: {len(load.created)} acknowledged, 0 lost; writes "
                        f"refused (503) for {refused[-1] - refused[0]:.1f}s (freeze, DDL, put-back, thaw)")
    assert [p[1] for p in points(host, "migration", since)] == [0]


# Where the controller dies: after the verified backup; frozen; the DDL ran and failed on
# the host; putting the data back; about to thaw. The same command, run again (breaking
# the dead run's lock, on purpose), puts everything back: nothing acknowledged is lost.
KILLED_AT = {  # a line of the run's output: the operation starting, or a host's line
    "after the backup": "Primary frozen: writes wait",
    "frozen": "Migrations (alembic upgrade head",
    "mid-DDL": "[app1] pymysql.err.ProgrammingError",
    "putting back": "Pre-migration backup restored, and",
    "before the thaw": "Primary thawed",
}


@pytest.mark.parametrize("step", KILLED_AT)
def test_a_migration_whose_controller_is_killed_is_finished_by_the_same_command_losing_nothing(
        host, address, failing, step):
    db1 = host("db1")
    before = columns(db1)
    release = host("app1").check_output(
        f"ls -d /srv/sales/releases/*/migrations/versions/{TEST_REVISION}_test.py").split("/")[4]
    command = ("tasks/migrate.py", "--data", f"release={release}")
    with Load(address("web1"), requests=WRITES, rate=None, workers=4) as load:
        pyinfra_killed_at(KILLED_AT[step], *command)
        clock = time.monotonic()
        again = pyinfra_on_testbed(*command, "--data", "break_lock=yes", json_output=False)
    MEASUREMENTS.append(f"migrate killed at {step}: the same command again took {time.monotonic() - clock:.1f}s, "
                        f"{len(load.created)} writes acknowledged, {len(load.failures)} asked to retry")
    out = again.stdout + again.stderr
    assert again.returncode != 0, out[-3000:]  # the release's migration fails, or the dead one was put back
    assert "the database is back on the pre-migration backup" in out, out[-3000:]
    assert columns(db1) == before
    assert settled(host) == SETTLED
    replica_reconnected(host("db2"))
    assert checksums(host("db2")) == checksums(db1)
    assert lost_writes(host, load) == {}
    assert not_retryable(load.failures) == []


def test_dry_shows_the_pending_revision_and_its_sql_and_changes_nothing(host, failing):
    # the failing one, installed (its id may predate others': a build of the same content is reused)
    found = host("app1").check_output(f"ls -d /srv/sales/releases/*/migrations/versions/{TEST_REVISION}_test.py")
    release = found.split("/")[4]
    proc = pyinfra_on_testbed("tasks/migrate.py", "--dry", "--data", f"release={release}", json_output=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert f"schema at {HEAD}; head {TEST_REVISION}; pending:" in out and f"{TEST_REVISION} fault injection" in out
    assert "ALTER TABLE sale ADD COLUMN injected INT NULL" in out
    assert "injected" not in columns(host("db1"))


def test_an_app_host_left_out_of_the_run_by_limit_never_switches_to_an_unmigrated_release(host, failing):
    before = release_of(host("app2"))
    proc = pyinfra_on_testbed("deploy.py", "--limit", "app2", *[a for d in failing for a in ("--data", d)],
                              json_output=False)
    assert proc.returncode != 0
    assert "has pending migrations, and app1, which runs them, is not in this run (--limit)" in proc.stdout + proc.stderr
    assert release_of(host("app2")) == before
