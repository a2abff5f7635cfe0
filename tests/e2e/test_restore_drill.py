"""tasks/restore_drill.py on the testbed: db2's latest backup restored into a
scratch server on db2, checked and removed; the live servers are not touched."""

import re

from testbed.access import BACKUP_IDENTITY
from tests.e2e.helpers import back_up, points, pyinfra_on_testbed, server_run, utc_now


def test_the_drill_restores_the_latest_backup_into_a_scratch_server_and_removes_it(testbed, host):
    made = back_up()
    assert made.returncode == 0, made.stderr[-3000:]
    runs = {h: server_run(host(h)) for h in ("db1", "db2")}
    since = utc_now()
    # no STACK_BACKUP_AGE_IDENTITY_FILE: the testbed's inventory names its identity
    proc = pyinfra_on_testbed("tasks/restore_drill.py", json_output=False)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert re.search(rf"drill {made.backup_id}: restored into a scratch server, \d+ rows and revision \w+ match "
                     r"the manifest; RTO [\d.]+s; scratch removed", proc.stdout + proc.stderr)
    assert [p[1:] for p in points(host, "restore", since, "success, kind")] == [[1, "drill"]]
    assert {h: server_run(host(h)) for h in ("db1", "db2")} == runs  # the live servers were not touched
    assert not host("db2").file("/var/lib/mysql-drill").exists
    assert host("db2").file(f"/var/backups/stack/{made.backup_id}.physical.zst.age").exists  # the backup stays
    assert host("db2").check_output("pgrep -c -x mariadbd") == "1"  # the live server only
    assert not host("db2").file("/run/stack-restore").exists  # nor the identity


def test_a_drill_without_its_identity_is_refused_in_one_line_before_any_step(host):
    since = utc_now()
    proc = pyinfra_on_testbed("tasks/restore_drill.py", json_output=False,
                              env={"STACK_BACKUP_AGE_IDENTITY_FILE": "/nonexistent/identity.txt"})
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "the age identity file /nonexistent/identity.txt does not exist" in out
    assert "Traceback" not in out
    assert points(host, "restore", since, "success, kind") == []


def test_a_drill_of_a_corrupted_backup_fails_and_says_so(testbed, host):
    made = back_up()
    h, path = host("db2"), f"/var/backups/stack/{made.backup_id}.physical.zst.age"
    h.run_expect([0], "cp %s %s.good && truncate -s -1 %s", path, path, path)
    since = utc_now()
    try:
        proc = pyinfra_on_testbed("tasks/restore_drill.py", json_output=False,
                                  env={"STACK_BACKUP_AGE_IDENTITY_FILE": str(testbed.state_dir / BACKUP_IDENTITY)})
    finally:
        h.run_expect([0], "mv %s.good %s", path, path)
    assert proc.returncode != 0 and "does not match its manifest's sha256" in proc.stdout + proc.stderr
    assert [p[1:] for p in points(host, "restore", since, "success, kind")] == [[0, "drill"]]
