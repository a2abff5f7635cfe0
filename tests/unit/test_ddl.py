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


COPYING = "ALTER TABLE sale_item ADD INDEX ix_sku (sku), MODIFY price DECIMAL(14, 2) NOT NULL"


def test_a_table_copying_alter_is_refused_with_the_online_way_proposed():
    assert ddl.lint(sql(COPYING), {}) == [
        f"0009: {rule}: {COPYING} (declare the revision `online = True` and use online.alter: it copies under "
        "writes)" for rule in ("type_change", "rebuild")]


def test_an_online_revision_may_copy_a_table_but_not_drop_a_column_unsaid():
    assert ddl.lint(sql(COPYING), {}, online={"0009"}) == []
    assert ddl.lint(sql("ALTER TABLE sale DROP COLUMN channel"), {}, online={"0009"}) == [
        "0009: drop: ALTER TABLE sale DROP COLUMN channel"]


def test_the_lock_estimate_scales_a_blocking_copy_by_its_rows_and_an_online_one_waits_for_the_swap_only():
    rows = {"sale_item": 30 * ddl.COPY_ROWS_PER_S}
    assert ddl.locks(sql(COPYING), set(), rows) == [
        f"0009: sale_item (~{rows['sale_item']:,} rows): copies the table: writes to it wait ~30 s "
        f"(at {ddl.COPY_ROWS_PER_S:,} rows/s), and the replica falls behind as long"]
    assert ddl.locks(sql(COPYING), {"0009"}, rows) == [
        f"0009: sale_item (~{rows['sale_item']:,} rows): online: copied under writes, which wait only for "
        "the swap's bounded metadata lock"]


def test_the_lock_report_tells_in_place_changes_and_row_updates_apart_and_skips_new_tables():
    text = sql("CREATE TABLE t (id INT)", "CREATE INDEX ix_t ON t (id)",
               "ALTER TABLE sale ADD COLUMN c INT NULL, ALGORITHM=INSTANT, LOCK=NONE",
               "UPDATE sale SET c = 1")
    assert ddl.locks(text, set(), {"sale": 7}) == [
        "0009: sale (~7 rows): in place: a brief metadata lock",
        "0009: sale (~7 rows): locks the rows it changes until its revision commits"]
