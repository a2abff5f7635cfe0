"""stack/ddl.py: the lint over the migrations' offline SQL."""

import pytest

from stack import ddl


def sql(*statements, revision="0009", previous="0008"):
    return f"-- Running upgrade {previous} -> {revision}\n\n" + "".join(f"{s};\n\n" for s in statements)


@pytest.mark.parametrize("rule, statement", [
    ("not_null", "ALTER TABLE sale ADD COLUMN code VARCHAR(8) NOT NULL, ALGORITHM=INSTANT, LOCK=NONE"),
    ("type_change", "ALTER TABLE sale MODIFY total NUMERIC(14, 2) NOT NULL, ALGORITHM=INPLACE, LOCK=NONE"),
    ("drop", "ALTER TABLE sale DROP COLUMN channel, ALGORITHM=INSTANT, LOCK=NONE"),
    ("drop", "DROP TABLE audit_log"),
    ("rename", "RENAME TABLE sale TO sales"),
    ("rename", "ALTER TABLE sale CHANGE total amount NUMERIC(12, 2) NOT NULL, ALGORITHM=INPLACE, LOCK=NONE"),
    ("rebuild", "ALTER TABLE sale ADD COLUMN note TEXT NULL"),
    ("rebuild", "CREATE INDEX ix_sale_created ON sale (created_at)"),
])
def test_each_risky_statement_is_flagged(rule, statement):
    assert rule in [r for r, _ in ddl.findings([statement])]


def test_an_online_nullable_column_is_not_flagged():
    assert ddl.findings(["ALTER TABLE sale ADD COLUMN channel VARCHAR(16) NULL, ALGORITHM=INSTANT, LOCK=NONE"]) == []


def test_not_null_with_a_default_is_not_flagged():
    assert ddl.findings(["ALTER TABLE sale ADD COLUMN n INT NOT NULL DEFAULT 0, ALGORITHM=INSTANT, LOCK=NONE"]) == []


def test_a_table_created_in_the_same_revision_is_new():
    assert ddl.findings(["CREATE TABLE t (id INT)", "CREATE INDEX ix_t ON t (id)",
                         "ALTER TABLE t ADD COLUMN c INT NOT NULL"]) == []


def test_a_revision_that_intends_the_risk_is_not_flagged():
    text = sql("ALTER TABLE sale DROP COLUMN channel, ALGORITHM=INSTANT, LOCK=NONE")
    assert ddl.lint(text, {}) == ["0009: drop: ALTER TABLE sale DROP COLUMN channel, ALGORITHM=INSTANT, LOCK=NONE"]
    assert ddl.lint(text, {"0009": {"drop"}}) == []


def test_statements_are_told_apart_by_revision():
    text = sql("CREATE TABLE a (id INT)", revision="0001", previous="") + sql("DROP TABLE a", revision="0002",
                                                                              previous="0001")
    assert ddl.by_revision(text) == {"0001": ["CREATE TABLE a (id INT)"], "0002": ["DROP TABLE a"]}
