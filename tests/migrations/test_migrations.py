"""The migrations, checked against a real MariaDB (pytest-alembic where it fits):
one head, base -> head -> base -> head, offline SQL, the declarations every
revision carries, and no risky DDL it does not mean."""

import importlib.util

import pytest
from alembic.script import ScriptDirectory
from pytest_alembic.tests import test_single_head_revision, test_up_down_consistency, test_upgrade  # noqa: F401

from stack import ddl
from tests.helpers import REPO

REVISIONS = sorted((REPO / "migrations/versions").glob("*.py"))


def module(path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_base_to_head_to_base_to_head(alembic_runner):
    alembic_runner.migrate_up_to("heads")
    alembic_runner.migrate_down_to("base")
    alembic_runner.migrate_up_to("heads")
    assert alembic_runner.current == alembic_runner.heads[0]


def test_the_offline_sql_renders_every_revision(offline_sql):
    script = ScriptDirectory.from_config(__import__("alembic.config").config.Config(
        str(REPO / "migrations/alembic.ini")))
    assert list(ddl.by_revision(offline_sql)) == [r.revision for r in reversed(list(script.walk_revisions()))]


@pytest.mark.parametrize("path", REVISIONS, ids=lambda p: p.stem)
def test_every_revision_says_whether_it_is_breaking_or_destructive_and_what_risk_it_intends(path):
    mod = module(path)
    assert isinstance(mod.breaking, bool) and isinstance(mod.destructive, bool)
    assert set(mod.intended) <= set(ddl.RULES)


def test_no_revision_has_risky_ddl_it_does_not_intend(offline_sql):
    intended = {module(p).revision: set(module(p).intended) for p in REVISIONS}
    online = {module(p).revision for p in REVISIONS if getattr(module(p), "online", False)}
    assert ddl.lint(offline_sql, intended, online) == []


def test_the_online_revision_adds_the_sku_index_and_widens_price_and_its_downgrade_undoes_both(
        alembic_runner, alembic_engine):
    alembic_runner.migrate_up_to("0004")
    with alembic_engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO sale (id, total) VALUES (1, 9.90)")
        conn.exec_driver_sql("INSERT INTO sale_item (sale_id, sku, qty, price) VALUES (1, 'a', 1, 9.90)")
    alembic_runner.migrate_up_one()
    assert _sale_item(alembic_engine) == ("decimal(14,2)", ["PRIMARY", "ix_sale_item_sku", "sale_id"], 1)
    alembic_runner.migrate_down_one()
    assert _sale_item(alembic_engine) == ("decimal(12,2)", ["PRIMARY", "sale_id"], 1)


def _sale_item(engine) -> tuple:
    """sale_item's price type, index names, rows; and no trigger or copy left behind."""
    with engine.begin() as conn:
        price = conn.exec_driver_sql("SELECT column_type FROM information_schema.columns WHERE "
                                     "table_schema = DATABASE() AND table_name = 'sale_item' AND "
                                     "column_name = 'price'").scalar()
        indexes = sorted({r[2] for r in conn.exec_driver_sql("SHOW INDEX FROM sale_item")})
        assert conn.exec_driver_sql("SHOW TRIGGERS").all() == []
        assert conn.exec_driver_sql("SELECT table_name FROM information_schema.tables WHERE "
                                    "table_schema = DATABASE() AND table_name REGEXP '^_'").all() == []
        return price, indexes, conn.exec_driver_sql("SELECT COUNT(*) FROM sale_item").scalar()


def test_the_data_migration_marks_existing_sales_as_web_and_its_downgrade_clears_them(alembic_runner, alembic_engine):
    alembic_runner.migrate_up_to("0003")
    with alembic_engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO sale (total) VALUES (9.90), (5.00)")
    alembic_runner.migrate_up_one()
    with alembic_engine.begin() as conn:
        assert [r[0] for r in conn.exec_driver_sql("SELECT channel FROM sale")] == ["web", "web"]
    alembic_runner.migrate_down_one()
    with alembic_engine.begin() as conn:
        assert [r[0] for r in conn.exec_driver_sql("SELECT channel FROM sale")] == [None, None]


def test_an_online_change_past_the_critical_load_stops_leaving_the_table_as_it_was(
        alembic_runner, alembic_engine, monkeypatch):
    alembic_runner.migrate_up_to("0004")
    with alembic_engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO sale (id, total) VALUES (1, 9.90)")
        conn.exec_driver_sql("INSERT INTO sale_item (sale_id, sku, qty, price) VALUES (1, 'a', 1, 9.90)")
    before = _sale_item(alembic_engine)
    monkeypatch.setenv("ONLINE_CRITICAL_LOAD", "1")  # its own session is a running thread: always past it
    with pytest.raises(Exception, match="online change of sale_item failed"):
        alembic_runner.migrate_up_one()
    assert _sale_item(alembic_engine) == before and alembic_runner.current == "0004"
