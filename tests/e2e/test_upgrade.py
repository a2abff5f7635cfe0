"""The supported way from Debian 12 to 13 (docs/platforms.md): a second stack is deployed
on trixie hosts, and the bookworm stack's data reaches it through a logical backup
(MariaDB 10.11 -> 11.8: mariadb-backup's physical copies are for one server version
only), restored by the usual flow with the identity that encrypted it.

Runs in the bookworm session: the tests' testbed is the old stack, and a trixie
testbed of its own is booted beside it and removed at the end."""

import pytest
import yaml

from testbed import Testbed
from testbed.access import BACKUP_IDENTITY
from tests.e2e.helpers import RELEASE, back_up, bucket_of, hosts_of, replica_reconnected
from tests.helpers import MEASUREMENTS, run_pyinfra

pytestmark = [pytest.mark.every_release,
              pytest.mark.skipif(RELEASE != "bookworm", reason="an upgrade from Debian 12: runs on bookworm")]

TABLES = ("sale", "sale_item", "stock_move", "alembic_version", "upgrade_probe")


def rows(h) -> str:
    """Every row of the app's tables, in order: CHECKSUM TABLE may differ between server versions."""
    queries = "; ".join(f"SELECT * FROM sales.{t} ORDER BY 1" for t in TABLES)
    return h.check_output("mariadb -N -e %s", queries)


@pytest.fixture
def trixie():
    target = Testbed(name="tbup", subnet="10.231.8.0/24", release="trixie")
    target.down()
    target.up()
    yield target
    target.down()


def test_a_bookworm_stacks_data_restores_onto_a_trixie_stack(host, bucket, secrets, testbed, trixie):
    old = host("db1")
    old.run_expect([0], "mariadb -e %s", "CREATE TABLE sales.upgrade_probe (id INT PRIMARY KEY); "
                                         "INSERT INTO sales.upgrade_probe VALUES (42)")
    try:
        made = back_up("backup_method=logical")
        assert made.returncode == 0, made.stderr[-3000:]
        before = rows(old)
    finally:
        old.run_expect([0], "mariadb -e 'DROP TABLE sales.upgrade_probe'")
        replica_reconnected(host("db2"))

    env = {"TESTBED_NAME": trixie.name}
    deployed = run_pyinfra("inventories/testbed.py", "deploy.py", env=env)
    assert deployed.returncode == 0, deployed.stderr[-4000:]
    # The backup, as ops would copy it between the two environments' buckets.
    target = bucket_of(trixie, yaml.safe_load((trixie.state_dir / "secrets.yml").read_text()))
    for obj in bucket("list_objects_v2", Prefix=f"db2/{made.backup_id}/")["Contents"]:
        got = bucket("get_object", Key=obj["Key"])
        target("put_object", Key=obj["Key"], Body=got["Body"], Metadata=got["Metadata"])

    # the identity that encrypted it: the old stack's
    identity = {"STACK_BACKUP_AGE_IDENTITY_FILE": str(testbed.state_dir / BACKUP_IDENTITY)}
    restored = run_pyinfra("inventories/testbed.py", "tasks/restore.py", "--data",
                           f"backup_id={made.backup_id}", env={**env, **identity}, json_output=False)
    assert restored.returncode == 0, restored.stderr[-4000:]
    new = hosts_of(trixie)
    assert new("db1").check_output("mariadb -N -e 'SELECT VERSION()'").startswith("11.8")
    assert rows(new("db1")) == before
    replica_reconnected(new("db2"))
    assert rows(new("db2")) == before  # the replica was seeded again from the restored primary
    MEASUREMENTS.append(f"upgrade: bookworm's logical backup {made.backup_id} restored onto a trixie stack")
