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
    assert ddl.lint(offline_sql, intended) == []


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
