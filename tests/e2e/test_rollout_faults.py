"""A rollout (deploy.py) and a rollback whose controller is killed after the first app
host switched (whichever: pyinfra's serial order is its set of hosts'), on the testbed, while clients read and write through nginx: the same
command run again finishes the flow, every request succeeds or is asked to retry, and
every acknowledged sale is a row. Ends on the release it found."""

import re
import time

import pytest

from testbed.load import Load
from tests.e2e.helpers import (
    WRITES,
    lost_writes,
    not_retryable,
    pyinfra_killed_at,
    pyinfra_on_testbed,
    release_of,
    variant,
)
from tests.helpers import MEASUREMENTS

APPS = ("app1", "app2")
MIX = [*WRITES, ("GET", "/ready", None)]


@pytest.fixture(scope="module")
def releases(host, tmp_path_factory):
    """(the release found, the data that deploys a newer one), deployed; put back at the end."""
    found = release_of(host("app1"))
    newer = ("--data", f"app_source={variant(tmp_path_factory.mktemp('rf'), 'v-rf')}")
    proc = pyinfra_on_testbed("deploy.py", *newer)
    assert proc.returncode == 0, proc.stderr[-3000:]
    yield found, release_of(host("app1")), newer
    # a lock a failed test's killed run left goes too: the next module starts clean
    proc = pyinfra_on_testbed("tasks/rollback.py", "--data", f"release={found}", "--data", "break_lock=yes")
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_a_rollback_killed_after_the_first_host_switched_is_finished_by_the_same_command(host, address, releases):
    found, newer, _ = releases
    with Load(address("web1"), requests=MIX, rate=None, workers=4) as load:
        pyinfra_killed_at(re.compile(rf"\[app\d\] {found} is live and healthy"), "tasks/rollback.py")
        assert sorted(release_of(host(h)) for h in APPS) == sorted([found, newer])  # stopped half-way
        clock = time.monotonic()
        again = pyinfra_on_testbed("tasks/rollback.py", "--data", "break_lock=yes", json_output=False)
    MEASUREMENTS.append(f"rollback killed after the first host: the same command again took "
                        f"{time.monotonic() - clock:.1f}s, {len(load.created)} writes acknowledged")
    out = again.stdout + again.stderr
    assert again.returncode == 0, out[-3000:]
    assert "a rollout or rollback stopped part-way" in out
    assert {release_of(host(h)) for h in APPS} == {found}
    assert lost_writes(host, load) == {} and not_retryable(load.failures) == []


def test_a_rollout_killed_after_the_first_host_switched_is_finished_by_the_same_command(host, address, releases):
    found, newer, data = releases
    with Load(address("web1"), requests=MIX, rate=None, workers=4) as load:
        pyinfra_killed_at(re.compile(rf"\[app\d\] {newer} is live and healthy"), "deploy.py", *data)
        assert sorted(release_of(host(h)) for h in APPS) == sorted([found, newer])  # stopped half-way
        clock = time.monotonic()
        again = pyinfra_on_testbed("deploy.py", *data, "--data", "break_lock=yes", json_output=False)
    MEASUREMENTS.append(f"rollout killed after the first host: the same command again took "
                        f"{time.monotonic() - clock:.1f}s, {len(load.created)} writes acknowledged")
    assert again.returncode == 0, (again.stdout + again.stderr)[-3000:]
    assert {release_of(host(h)) for h in APPS} == {newer}
    assert lost_writes(host, load) == {} and not_retryable(load.failures) == []
