"""The full converge on the testbed, through the CLI."""

import time

from tests.conftest import changed_hosts
from tests.e2e.conftest import pyinfra_on_testbed

HOSTS = ["app1", "app2", "db1", "db2", "web1"]


def test_first_deploy_changes_every_host(first_deploy):
    changed = {h for hosts in changed_hosts(first_deploy.results).values() for h in hosts}
    assert changed == set(HOSTS)


def test_second_deploy_changes_nothing_on_any_host(first_deploy):
    started = time.monotonic()
    proc = pyinfra_on_testbed("deploy.py")
    print(f"\nno-op re-run: {time.monotonic() - started:.1f}s")
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert changed_hosts(proc.results) == {}
    # every host really took part: each operation ran everywhere
    assert all(sorted(op["no_change"]) == HOSTS for op in proc.results)


def test_container_skips_are_announced(first_deploy):
    for h in HOSTS:
        assert f"{h}: in a systemd-nspawn container, time sync is left to the machine" in first_deploy.stderr
