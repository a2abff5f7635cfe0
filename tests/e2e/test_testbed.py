"""The testbed's own promises: up is idempotent and clears stale state, down leaves
nothing behind. Uses a one-host testbed of its own."""

import os
import subprocess

import pytest

from testbed import Testbed, teardown


@pytest.fixture
def small():
    tb = Testbed(name="tbdown", subnet="10.231.8.0/24", hosts=("db1",))
    tb.down()
    yield tb
    tb.down()


def in_namespaces(inodes):
    """Processes whose network namespace is one of ``inodes``."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.stat(f"/proc/{pid}/ns/net").st_ino in inodes:
                found.append(pid)
        except OSError:
            pass
    return found


def system_traces(tb, inodes):
    """What the system itself shows of the testbed, independently of its own bookkeeping."""
    marker = str(tb.state_dir)
    return {
        "in_host_namespaces": in_namespaces(inodes),
        "netns": [n for n in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
                  .stdout.split() if n.startswith("tbdown-")],
        "links": [l for l in subprocess.run(["ip", "-o", "link"], capture_output=True, text=True)
                  .stdout.splitlines() if " tbdown-" in l],
        "mounts": [m for m in open("/proc/self/mountinfo") if marker in m],
        "processes": [p for p in subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True)
                      .stdout.splitlines() if marker + "/" in p],
        "state_dir": tb.state_dir.exists(),
    }


def test_down_leaves_nothing_behind(small):
    small.up()
    assert small.ssh("db1", "systemctl", "is-system-running", "--wait", check=False).stdout.strip() in (
        "running", "degraded")
    inodes = {os.stat(f"/run/netns/{ns}").st_ino for ns in teardown.namespaces(small)}
    up = system_traces(small, inodes)
    assert all(up.values())  # the probe does see every kind of trace of a running testbed
    small.down()
    assert system_traces(small, inodes) == {"in_host_namespaces": [], "netns": [], "links": [], "mounts": [],
                                            "processes": [], "state_dir": False}


def test_up_twice_keeps_the_running_hosts(small):
    small.up()
    boot_id = small.ssh("db1", "cat", "/proc/sys/kernel/random/boot_id").stdout
    small.up()
    assert small.ssh("db1", "cat", "/proc/sys/kernel/random/boot_id").stdout == boot_id


def test_up_clears_what_a_killed_run_left(small):
    small.up()
    small.state_file.unlink()  # as if `up` was killed before it wrote its state
    small.up()
    assert small.ssh("db1", "true", check=False).returncode == 0


def test_extra_hosts_boot_as_base_only_hosts_and_go_with_down():
    tb = Testbed(name="tbdown", subnet="10.231.8.0/24", hosts=("db1",), extra=2)
    tb.down()
    try:
        tb.up()
        state = tb.load_state()["hosts"]
        assert {h: (info["groups"], info["address"]) for h, info in state.items() if h.startswith("base")} == {
            "base1": (["base_servers"], "10.231.8.16"), "base2": (["base_servers"], "10.231.8.17")}
        assert tb.ssh("base2", "hostname").stdout.strip() == "base2"
    finally:
        tb.down()
    assert not [n for n in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()
                if n.startswith("tbdown-base")]
