"""tasks/rollback.py on the testbed: a release is deployed, then rolled back under a
steady load; refusals touch nothing. Ends on the release it found."""

import time

import pytest

from tests.conftest import MEASUREMENTS
from tests.e2e.conftest import pyinfra_on_testbed
from tests.e2e.load import Load
from tests.e2e.test_app import APP, release_of, variant
from tests.e2e.test_backup import points, utc_now

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
    audit = host("db1").check_output("mariadb -N -e 'SELECT action, target, detail FROM sales.audit_log "
                                     "ORDER BY id DESC LIMIT 1'")
    assert audit.split("\t") == ["rollback", found, f"from {newer}"]
    assert [p[1:] for p in points(host, "rollback", since, "success, release")] == [[1, found]]
