"""stack/migration.py's decisions that need no host: what a run does with the journal
an earlier run left when its controller died."""

import pytest

from stack import context, migration

JOURNAL = {"release": "r2", "backup_id": "20261202T100000Z", "frozen": "0-1-900", "schema": "before",
           "step": "frozen", "run": {"who": "alice", "flow": "deploy.py", "since": "2026-12-02T10:00:00Z"}}


@pytest.fixture(autouse=True)
def fresh_run(monkeypatch):
    monkeypatch.setattr(context.current(), "migration", None)


def plan(schema, pending=("0005",)):
    return {"schema": schema, "current": "0004", "head": "0005", "pending": [{"revision": r} for r in pending]}


def test_a_migration_that_completed_before_its_controller_died_is_kept_and_the_primary_thawed():
    migration.resume(JOURNAL, plan("after", pending=()), "0-1-905")
    run = migration.current()
    assert run.failed is None and not run.needs_restore() and run.thaw_first and run.needs_maintenance_off()


def test_a_run_that_died_before_the_ddl_changed_nothing_is_let_go_and_this_run_migrates():
    migration.resume(JOURNAL, plan("before"), "0-1-900")
    run = migration.current()
    assert run.failed is None and not run.needs_restore() and run.thaw_first


def test_a_run_that_died_before_its_journal_said_frozen_still_has_the_primary_thawed():
    migration.resume({**JOURNAL, "step": "backed_up", "frozen": None}, plan("before"), "0-1-899")
    assert migration.current().thaw_first


def test_a_schema_left_half_changed_is_put_back_to_the_freeze_point_and_the_run_fails():
    migration.resume(JOURNAL, plan("half"), "0-1-901")
    run = migration.current()
    assert run.needs_restore() and run.frozen == "0-1-900" and run.backup_id == "20261202T100000Z"
    assert "died part-way" in run.failed and "run again to migrate" in run.failed
    assert run.plan["schema"] == "before"  # what the put-back's journal keeps saying
    assert not run.go()  # nothing else runs on a stale plan


def test_a_put_back_that_finished_before_its_controller_died_only_reseeds_the_replicas():
    migration.resume({**JOURNAL, "step": "putting_back"}, plan("before"), "0-1-900")
    run = migration.current()
    assert run.reseed and run.thaw_first and not run.needs_restore() and run.failed is None


def test_a_put_back_that_did_not_finish_is_done_again():
    migration.resume({**JOURNAL, "step": "putting_back"}, plan("half"), "0-1-901")
    assert migration.current().needs_restore()


def test_a_put_back_whose_swap_rolled_back_is_done_again():
    migration.resume({**JOURNAL, "step": "putting_back"}, plan("before"), "0-1-700")
    assert migration.current().needs_restore()


def test_a_failed_restore_keeps_the_primary_frozen_and_the_maintenance_page_on():
    migration.resume(JOURNAL, plan("half"), "0-1-901")
    run = migration.current()
    run.restored = False
    assert not run.needs_thaw() and not run.needs_maintenance_off()
