"""tasks/restore.py on a bad day, on the testbed, while clients write sales through
nginx: the controller killed at each step and the same command run again; a swap
that fails after the datadir moved. Clients are only ever asked to retry (503 with
Retry-After). Ends with db1 on the backup the module took, which holds the data as
it was."""

import json
import time

import pytest

from testbed.access import BACKUP_IDENTITY
from testbed.load import Load
from tests.e2e.helpers import (
    FLAG,
    WRITES,
    back_up,
    checksums,
    lost_writes,
    not_retryable,
    pyinfra_killed_at,
    pyinfra_on_testbed,
    replica_reconnected,
)
from tests.helpers import MEASUREMENTS

PROBE = "sales.restore_probe"  # made after the backup: a restore takes it away


@pytest.fixture(scope="module")
def backup_id(host):
    made = back_up()
    assert made.returncode == 0, made.stderr[-3000:]
    return made.backup_id


def identity(testbed) -> dict:
    return {"STACK_BACKUP_AGE_IDENTITY_FILE": str(testbed.state_dir / BACKUP_IDENTITY)}


def settled(host) -> dict:
    return {"maintenance": host("web1").file(FLAG).exists, "staged": host("db1").file("/var/backups/stack/restore").exists,
            "probe": host("db1").run(f"mariadb -e 'SELECT 1 FROM {PROBE}'").rc == 0,
            "locks": [h for h in ("db1", "db2", "web1") if host(h).file("/home/deploy/.stack-flow-lock").exists]}


KILLED_AT = {  # the operation starting, as tasks/restore.py alone prints it
    "staging": "Backup ",  # "Backup <id> staged on the primary"
    "maintenance on": "Starting operation: Maintenance on",
    "swapping": "Starting operation: Primary's data swapped",
    "seeding the replica": "Starting operation: Replica seeded again",
    "maintenance off": "Starting operation: Maintenance off",
}


@pytest.mark.parametrize("step", KILLED_AT)
def test_a_restore_whose_controller_is_killed_is_finished_by_the_same_command(testbed, host, address, backup_id,
                                                                                step):
    host("db1").run_expect([0], f"mariadb -e 'CREATE TABLE IF NOT EXISTS {PROBE} (id INT PRIMARY KEY)'")
    command = ("tasks/restore.py", "--data", f"backup_id={backup_id}")
    marker = KILLED_AT[step] if step != "staging" else f"Starting operation: Backup {backup_id} staged"
    with Load(address("web1"), requests=WRITES, rate=None, workers=4) as load:
        pyinfra_killed_at(marker, *command, env=identity(testbed))
        clock = time.monotonic()
        again = pyinfra_on_testbed(*command, "--data", "break_lock=yes", json_output=False, env=identity(testbed))
    MEASUREMENTS.append(f"restore killed at {step}: the same command again took {time.monotonic() - clock:.1f}s, "
                        f"{len(load.created)} writes acknowledged, {len(load.failures)} asked to retry")
    out = again.stdout + again.stderr
    assert again.returncode == 0, out[-3000:]
    assert f"restored {backup_id} (sales)" in out
    assert settled(host) == {"maintenance": False, "staged": False, "probe": False, "locks": []}
    replica_reconnected(host("db2"))
    assert checksums(host("db2")) == checksums(host("db1"))
    assert not_retryable(load.failures) == []


def test_a_swap_that_fails_after_the_datadir_moved_puts_the_old_data_back_losing_nothing(
        testbed, host, address, backup_id, bucket):
    key = f"db2/{backup_id}/manifest.json"
    good = bucket("get_object", Key=key)["Body"]
    wrong = json.loads(good)
    wrong["rows"]["sales.sale"] += 1  # staged fine (the artifact matches); the swap's row check fails
    bucket("put_object", Key=key, Body=json.dumps(wrong).encode())
    try:
        with Load(address("web1"), requests=WRITES, rate=None, workers=4) as load:
            proc = pyinfra_on_testbed("tasks/restore.py", "--data", f"backup_id={backup_id}", json_output=False,
                                      env=identity(testbed))
            maintenance_stayed_on = host("web1").file(FLAG).exists  # until a person has looked
            pyinfra_on_testbed("tasks/maintenance.py", "--data", "maintenance=off")
    finally:
        bucket("put_object", Key=key, Body=good)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "row counts differ from the manifest" in out and "the server is back on its data from before" in out
    assert "maintenance mode stays ON on purpose" in out
    assert maintenance_stayed_on
    replica_reconnected(host("db2"))
    assert lost_writes(host, load) == {}  # every sale acknowledged before the swap is back
    assert not_retryable(load.failures) == []
