"""The full converge on the testbed, through the CLI."""

import time

from tests.conftest import MEASUREMENTS, changed_hosts
from tests.e2e.conftest import pyinfra_on_testbed

HOSTS = ["app1", "app2", "db1", "db2", "web1"]


def test_first_deploy_changes_every_host(first_deploy):
    changed = {h for hosts in changed_hosts(first_deploy.results).values() for h in hosts}
    assert changed == set(HOSTS)


def test_second_deploy_changes_nothing_on_any_host(first_deploy):
    started = time.monotonic()
    proc = pyinfra_on_testbed("deploy.py")
    MEASUREMENTS.append(f"no-op re-run: {time.monotonic() - started:.1f}s")
    assert proc.returncode == 0, proc.stderr[-4000:]
    # the one step that always runs: it records the run, it changes no host
    assert changed_hosts(proc.results) == {"Deployment recorded in the ops metrics": ["web1"]}
    # every host really took part
    assert {h for op in proc.results for h in op["no_change"]} == set(HOSTS)


def test_container_skips_are_announced(first_deploy):
    for h in HOSTS:
        assert f"{h}: in a systemd-nspawn container, time sync is left to the machine" in first_deploy.stderr


def test_no_secret_appears_in_the_deploy_output(first_deploy, secrets):
    output = first_deploy.stdout + first_deploy.stderr
    leaked = [name for name, value in secrets.items() if value in output]
    assert leaked == []


def test_diff_of_a_changed_secret_file_does_not_show_the_secret(secrets):
    new = "diffed-secret-value-0123456789"
    proc = pyinfra_on_testbed("--dry", "--diff", "deploy.py", "--limit", "web1",
                              env={"STACK_REDIS_PASSWORD": new}, json_output=False, yes=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Redis config" in proc.stdout + proc.stderr
    assert new not in proc.stdout + proc.stderr
    assert secrets["redis_password"] not in proc.stdout + proc.stderr
