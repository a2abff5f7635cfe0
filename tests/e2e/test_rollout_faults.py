"""A rollback and a rollout (deploy.py) whose controller is killed as the switching
begins, and after the first app host switched (whichever: pyinfra's serial order is
its set of hosts'), on the testbed, while clients read and write through nginx: the same
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


# Where the controller dies: as the switching begins (before any host, or just as the
# first one switches), and once the first host switched and passed its health gate.
KILLED_AT = {
    "as the switching begins": (lambda release: "serial operation: Roll back to",
                                lambda release: "Switch to the release, one host at a time"),
    "after the first host": (lambda release: re.compile(rf"\[app\d\] {release} is live and healthy"),) * 2,
}


@pytest.mark.parametrize("step", KILLED_AT)
def test_a_rollback_then_a_rollout_killed_part_way_are_finished_by_the_same_commands(host, address, releases,
                                                                                     step):
    found, newer, data = releases
    for (command, to), marker in zip(((("tasks/rollback.py",), found), (("deploy.py", *data), newer)),
                                     KILLED_AT[step]):
        with Load(address("web1"), requests=MIX, rate=None, workers=4) as load:
            pyinfra_killed_at(marker(to), *command)
            clock = time.monotonic()
            again = pyinfra_on_testbed(*command, "--data", "break_lock=yes", json_output=False)
        MEASUREMENTS.append(f"{command[0]} killed {step}: the same command again took "
                            f"{time.monotonic() - clock:.1f}s, {len(load.created)} writes acknowledged")
        assert again.returncode == 0, (again.stdout + again.stderr)[-3000:]
        assert {release_of(host(h)) for h in APPS} == {to}
        assert lost_writes(host, load) == {} and not_retryable(load.failures) == []
