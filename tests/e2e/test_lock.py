"""stack/lock.py on the testbed: one flow at a time on a host, who holds it said, a lock
that a dead controller left broken only on purpose. Leaves no lock behind."""

import json
import os
import subprocess
import time

from testbed.load import Load
from tests.e2e.helpers import ENV, WRITES, lost_writes, pyinfra_on_testbed
from tests.helpers import PYINFRA, REPO

HOSTS = ("app1", "app2", "db1", "db2", "web1")
DEAD = {"who": "alice", "flow": "tasks/restore.py", "controller": "laptop", "pid": 4242,
        "since": "2026-12-02T16:00:00Z"}


def locked(host) -> list[str]:
    return [h for h in HOSTS if host(h).run("test -d ~deploy/.stack-flow-lock").rc == 0]


def leave_a_dead_controllers_lock(host):
    note = f"printf %s '{json.dumps(DEAD)}' > ~/.stack-flow-lock/holder.json"
    host("db1").run_expect([0], "sudo -u deploy sh -c %s", f"mkdir ~/.stack-flow-lock && {note}")


def test_a_second_flow_while_one_runs_is_refused_naming_the_first(host, address, tmp_path):
    flag = tmp_path / "hold"
    flag.touch()
    first = subprocess.Popen([PYINFRA, "-y", "inventories/testbed.py", "tests/e2e/deploys/hold.py"], cwd=REPO,
                             env={**os.environ, **ENV, "STACK_TEST_HOLD": str(flag)},
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        with Load(address("web1"), requests=WRITES, rate=None, workers=4) as writers:
            deadline = time.monotonic() + 60
            while set(locked(host)) != set(HOSTS):
                assert time.monotonic() < deadline and first.poll() is None, "the first flow never took its lock"
                time.sleep(0.5)
            second = pyinfra_on_testbed("tasks/maintenance.py", "--data", "maintenance=on", json_output=False)
    finally:
        flag.unlink()
        out = first.communicate(timeout=120)[0]
    assert lost_writes(host, writers) == {} and writers.failures == []
    assert second.returncode == 1
    assert "flow lock: app1 is locked: " in second.stderr
    assert "runs tests/e2e/deploys/hold.py from" in second.stderr
    assert "Starting operation" not in second.stdout + second.stderr  # it ran nothing
    assert not host("web1").file("/var/www/maintenance/on").exists
    assert first.returncode == 0, out[-3000:]
    assert locked(host) == []  # the first run let go of every host at its end


def test_a_lock_a_dead_controller_left_refuses_every_run_and_nothing_changes(host):
    leave_a_dead_controllers_lock(host)
    try:
        proc = pyinfra_on_testbed("tasks/maintenance.py", "--data", "maintenance=on", json_output=False)
        assert proc.returncode == 1
        assert ("flow lock: db1 is locked: alice runs tasks/restore.py from laptop (pid 4242) since "
                "2026-12-02T16:00:00Z. Wait for it to end; if its controller died, run again with "
                "--data break_lock=yes. No host was changed.") in proc.stderr
        assert not host("web1").file("/var/www/maintenance/on").exists
        assert locked(host) == ["db1"]  # what the refused run took on other hosts, it gave back
    finally:
        host("db1").run_expect([0], "rm -rf ~deploy/.stack-flow-lock")


def test_break_lock_breaks_a_dead_controllers_lock_and_says_whose(host):
    leave_a_dead_controllers_lock(host)
    proc = pyinfra_on_testbed("tasks/maintenance.py", "--data", "maintenance=off",
                              "--data", "break_lock=yes", json_output=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "broke the flow lock on db1: alice runs tasks/restore.py from laptop" in proc.stdout + proc.stderr
    logged = host("db1").check_output("journalctl -t stack-flow-lock -n 5")
    assert "broke the flow lock on db1: alice" in logged
    assert locked(host) == []
