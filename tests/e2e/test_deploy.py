"""The full converge on the testbed, through the CLI."""

import os
import re
import subprocess
import sys
import time

import pytest

from tests.e2e.helpers import ENV, pyinfra_on_testbed, query, release_of, replica_reconnected, rows, variant
from tests.helpers import MEASUREMENTS, REPO, changed_hosts

HOSTS = ["app1", "app2", "db1", "db2", "web1"]


@pytest.mark.every_release
def test_first_deploy_changes_every_host(first_deploy):
    changed = {h for hosts in changed_hosts(first_deploy.results).values() for h in hosts}
    assert changed == set(HOSTS)


@pytest.mark.every_release
def test_second_deploy_changes_nothing_on_any_host(first_deploy):
    started = time.monotonic()
    proc = pyinfra_on_testbed("deploy.py")
    MEASUREMENTS.append(f"no-op re-run: {time.monotonic() - started:.1f}s")
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert changed_hosts(proc.results) == {}
    # every host really took part, and the run was still recorded (after it, not as an operation)
    assert {h for op in proc.results for h in op["no_change"]} == set(HOSTS)
    assert re.search(r"Run recorded: deployment point on web1 \(release \S+, success=1\)", proc.stderr)


@pytest.mark.every_release
def test_a_deploy_hours_later_changes_nothing_either(first_deploy, host):
    # apt's package lists aged past cache_time, as they are the next morning
    for h in HOSTS:
        host(h).run_expect([0], "touch -d '3 hours ago' /var/lib/apt/periodic/update-success-stamp")
    proc = pyinfra_on_testbed("deploy.py")
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert changed_hosts(proc.results) == {}


def plan(*args):
    return subprocess.run([sys.executable, "-m", "stack.preview", "inventories/testbed.py", *args], cwd=REPO,
                          env={**os.environ, **ENV}, capture_output=True, text=True, timeout=300)


def test_the_drift_check_passes_on_a_converged_testbed(first_deploy):
    proc = plan("--fail-on-change")
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert "No change: every host is as the deploy describes it." in proc.stdout


def test_the_drift_check_fails_naming_a_hand_edited_file_and_a_stopped_timer_and_a_converge_mends_both(
        first_deploy, host, tmp_path):
    db2 = host("db2")
    db2.run_expect([0], "echo edited by hand >> /etc/issue && systemctl stop stack-backup.timer")
    summary = tmp_path / "summary.md"
    proc = plan("--fail-on-change", "--summary", str(summary))
    assert proc.returncode == 1, proc.stdout + proc.stderr[-3000:]
    assert "**2 operation(s) would change 1 host(s):**" in proc.stdout
    assert "| db2 | tasks/base.py &#124; Login banner /etc/issue |" in proc.stdout
    assert "| db2 | tasks/backup_schedule.py &#124; Daily backup timer |" in proc.stdout
    assert summary.read_text() == proc.stdout
    mend = pyinfra_on_testbed("deploy.py", "--limit", "db2")
    assert mend.returncode == 0, mend.stderr[-3000:]
    assert plan("--fail-on-change").returncode == 0
    assert db2.service("stack-backup.timer").is_running


def test_an_apply_is_refused_when_the_plan_is_not_the_one_reviewed(first_deploy, tmp_path):
    reviewed = tmp_path / "plan.sha256"
    args = ("tasks/redis.py", "--limit", "web1")
    assert plan(*args, "--hash-file", str(reviewed)).returncode == 0
    digest = reviewed.read_text().strip()
    assert plan(*args, "--expect-hash", digest).returncode == 0  # nothing changed since the review
    changed = plan(*args, "--expect-hash", digest, "--data", "redis_maxmemory=300mb")
    assert changed.returncode == 3, changed.stdout + changed.stderr[-3000:]
    assert f"the plan is not the one reviewed (reviewed {digest[:12]}, now " in changed.stderr


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


def deployments(host, release):
    return rows(query(host, "admin", f"SELECT success FROM deployment WHERE release = '{release}'"))



def test_app_hosts_neither_migrate_nor_switch_while_the_db_primary_failed(host, tmp_path):
    before = {h: release_of(host(h)) for h in ("app1", "app2")}
    # db1 fails its converge: its server can't start
    host("db1").run_expect([0], "systemctl stop mariadb && mv /usr/sbin/mariadbd /usr/sbin/mariadbd.away")
    try:
        proc = pyinfra_on_testbed("deploy.py", "--data", f"app_source={variant(tmp_path, 'v-contained')}")
    finally:
        host("db1").run_expect([0], "mv /usr/sbin/mariadbd.away /usr/sbin/mariadbd && systemctl start mariadb")
        replica_reconnected(host("db2"))
    assert proc.returncode != 0
    assert "db1 failed in this run: app1 is not migrated and not switched" in proc.stdout + proc.stderr
    assert {h: release_of(host(h)) for h in ("app1", "app2")} == before
    # the failed run is recorded as such, after it
    recorded = re.search(r"Run recorded: deployment point on web1 \(release (\S+), success=0\)", proc.stderr)
    assert recorded and [success for _, success in deployments(host, recorded[1])] == [0]
    assert pyinfra_on_testbed("deploy.py").returncode == 0  # leave the testbed as it was
