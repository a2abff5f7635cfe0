"""tasks/migrate.py with an online revision (the product's 0005 on sale_item, through
pt-online-schema-change) on the testbed, while clients write sales through nginx: it
runs without one failed write, and a cancelled one leaves the table as it was. The
module downgrades sale_item to 0004 online first (stack-app downgrade: the revert
runs online too) over a bulk of rows, and ends with the schema at the head again and
the bulk gone."""

import concurrent.futures
import re
import time

import pytest

from testbed.load import Load
from tests.e2e.helpers import HEAD, WRITES, lost_writes, pyinfra_on_testbed, release_of
from tests.helpers import MEASUREMENTS

BULK = 60_000  # sale_item rows the copy moves: seconds of it on the testbed, under the writers
BEFORE = str(int(HEAD) - 1).zfill(4)  # the revision before the online one


def revision(db1) -> str:
    return db1.check_output("mariadb -N -e 'SELECT version_num FROM sales.alembic_version'")


def sale_item(db1) -> str:
    """Its definition, less the AUTO_INCREMENT counter the writers move."""
    return re.sub(r" AUTO_INCREMENT=\d+", "", db1.check_output("mariadb -N -e 'SHOW CREATE TABLE sales.sale_item'"))


def leftovers(db1) -> str:
    """pt-online-schema-change's triggers and copies, if any were left."""
    return db1.check_output("mariadb -N -e \"SELECT trigger_name FROM information_schema.triggers WHERE "
                            "trigger_schema = 'sales' UNION SELECT table_name FROM information_schema.tables "
                            "WHERE table_schema = 'sales' AND table_name LIKE '\\\\_%'\"")


def in_sync(db1, db2):
    """The replica has applied everything the primary has (30 s at most)."""
    pos = db1.check_output("mariadb -N -e 'SELECT @@gtid_binlog_pos'")
    assert db2.check_output(f"mariadb -N -e \"SELECT MASTER_GTID_WAIT('{pos}', 30)\"") == "0"


@pytest.fixture(scope="module")
def at_before(host):
    """BULK rows in sale_item and the schema at BEFORE; put back afterwards."""
    db1, app1 = host("db1"), host("app1")
    db1.run_expect([0], "mariadb sales -e \"INSERT INTO sale (total) VALUES (0); INSERT INTO sale_item "
                        "(sale_id, sku, qty, price) SELECT LAST_INSERT_ID(), 'ONLINE-BULK', 1, 1.00 "
                        f"FROM seq_1_to_{BULK}\"")
    app1.run_expect([0], f"stack-app downgrade {release_of(app1)} {BEFORE}")
    assert revision(db1) == BEFORE and "ix_sale_item_sku" not in sale_item(db1) and leftovers(db1) == ""
    yield
    if revision(db1) != HEAD:
        proc = pyinfra_on_testbed("tasks/migrate.py", json_output=False)
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    db1.run_expect([0], "mariadb sales -e \"DELETE FROM sale WHERE id = (SELECT sale_id FROM sale_item "
                        "WHERE sku = 'ONLINE-BULK' LIMIT 1)\"")
    in_sync(db1, host("db2"))


def test_a_cancelled_online_change_leaves_the_table_as_it_was_and_fails_no_write(host, address, at_before):
    db1, db2, app1 = host("db1"), host("db2"), host("app1")
    before = sale_item(db1)
    # A stopped replica has no lag to read: the copy waits for it, mid-way, until cancelled.
    db2.run_expect([0], "mariadb -e 'STOP SLAVE SQL_THREAD'")
    try:
        with Load(address("web1"), requests=WRITES, rate=None, workers=4) as load, \
                concurrent.futures.ThreadPoolExecutor(1) as pool:
            run = pool.submit(pyinfra_on_testbed, "tasks/migrate.py", json_output=False)
            deadline = time.monotonic() + 120
            while "pt_osc_sales_sale_item_ins" not in leftovers(db1):  # its triggers: the copy has begun
                assert time.monotonic() < deadline and not run.done(), "the online change never started"
                time.sleep(0.5)
            app1.run_expect([0], "stack-app cancel")
            proc = run.result(timeout=120)
    finally:
        db2.run_expect([0], "mariadb -e 'START SLAVE SQL_THREAD'")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "online change of sale_item failed" in out and f"the schema is unchanged at {BEFORE}" in out
    assert (revision(db1), sale_item(db1), leftovers(db1)) == (BEFORE, before, "")
    assert load.failures == [] and lost_writes(host, load) == {}


def test_an_online_revision_runs_under_writes_without_a_failed_write_nor_a_freeze(host, address, at_before):
    db1, db2 = host("db1"), host("db2")
    with Load(address("web1"), requests=WRITES, rate=None, workers=4) as load:
        proc = pyinfra_on_testbed("tasks/migrate.py", json_output=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert f"{HEAD} " in out and "[online]" in out and "online: copied under writes" in out
    assert "Successfully altered `sales`.`sale_item`" in out
    assert revision(db1) == HEAD and leftovers(db1) == ""
    assert "`price` decimal(14,2) NOT NULL" in sale_item(db1) and "KEY `ix_sale_item_sku` (`sku`)" in sale_item(db1)
    assert load.failures == [] and lost_writes(host, load) == {}  # not one 503: the primary was never frozen
    in_sync(db1, db2)
    assert sale_item(db2) == sale_item(db1)
    latencies = sorted(r[1] for r in load.records)
    MEASUREMENTS.append(f"online migration of {BULK:,} sale_item rows under 4 writers: {len(load.created)} "
                        f"acknowledged, 0 failed, write P99 {latencies[int(len(latencies) * 0.99)] * 1000:.0f} ms, "
                        f"max {latencies[-1] * 1000:.0f} ms")
