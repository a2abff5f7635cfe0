"""Risky DDL in the migrations' offline SQL (`alembic upgrade --sql`), flagged unless
the revision says it means it (its module's ``intended`` set of rule names).

MySQL/MariaDB DDL is not transactional and can lock or copy a whole table, so:

    not_null     ADD COLUMN ... NOT NULL without a DEFAULT, on an existing table
    type_change  a column's type changed (MODIFY, CHANGE, ALTER COLUMN ... TYPE)
    drop         DROP TABLE, DROP COLUMN, DROP INDEX
    rename       RENAME TABLE, RENAME COLUMN, CHANGE old new
    rebuild      ALTER TABLE / CREATE INDEX on an existing table without
                 ALGORITHM=INPLACE|INSTANT and LOCK=NONE

A table created earlier in the same revision is new: nothing of it is risky yet.
"""

from __future__ import annotations

import re

RULES = ("not_null", "type_change", "drop", "rename", "rebuild")
_RUNNING = re.compile(r"^-- Running upgrade (\S*) -> (\S+)", re.M)


def by_revision(sql: str) -> dict[str, list[str]]:
    """Statements of each revision, in order, from `alembic upgrade --sql` output."""
    out, parts = {}, _RUNNING.split(sql)
    for i in range(1, len(parts) - 2, 3):
        body = re.sub(r"^--.*$", "", parts[i + 2], flags=re.M)
        out[parts[i + 1]] = [" ".join(s.split()) for s in body.split(";") if s.strip()]
    return out


def findings(statements: list[str]) -> list[tuple[str, str]]:
    """(rule, statement) for every risky statement."""
    created, out = set(), []
    for st in statements:
        up = st.upper()
        m = re.match(r"CREATE TABLE (?:IF NOT EXISTS )?`?(\w+)", up)
        if m:
            created.add(m.group(1))
            continue
        m = re.match(r"(?:ALTER TABLE|CREATE (?:UNIQUE )?INDEX \S+ ON|DROP TABLE(?: IF EXISTS)?|RENAME TABLE) `?(\w+)",
                     up)
        if not m or m.group(1) in created:
            continue
        rules = []
        if re.search(r"\bADD (?:COLUMN )?\S+ [^,]*\bNOT NULL\b", up) and not re.search(
                r"\bADD (?:COLUMN )?\S+ [^,]*\bDEFAULT\b", up):
            rules.append("not_null")
        if re.search(r"\b(MODIFY|CHANGE)\b|\bALTER COLUMN \S+ (SET DATA )?TYPE\b", up):
            rules.append("type_change")
        if re.search(r"\bCHANGE (?:COLUMN )?`?(\w+)`? `?(?!\1\b)\w+", up) or re.search(r"\bRENAME\b", up):
            rules.append("rename")
        if re.match(r"DROP TABLE", up) or re.search(r"\bDROP (COLUMN|INDEX|KEY)\b", up):
            rules.append("drop")
        if up.startswith(("ALTER TABLE", "CREATE")) and not (
                re.search(r"\bALGORITHM\s*=\s*(INPLACE|INSTANT)\b", up) and re.search(r"\bLOCK\s*=\s*NONE\b", up)):
            rules.append("rebuild")
        out += [(rule, st) for rule in rules]
    return out


def lint(sql: str, intended: dict[str, set[str]]) -> list[str]:
    """One message per risky statement not intended by its revision."""
    return [f"{rev}: {rule}: {st}" for rev, statements in by_revision(sql).items()
            for rule, st in findings(statements) if rule not in intended.get(rev, set())]
