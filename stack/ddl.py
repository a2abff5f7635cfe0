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
A revision that declares ``online = True`` runs its ALTER TABLEs through
pt-online-schema-change (migrations/online.py): their rebuild and type_change are
what it is for. ``locks`` says, per statement, what it would lock and for how long
at the table's row count; the plan (and --dry) shows it.
"""

from __future__ import annotations

import re

RULES = ("not_null", "type_change", "drop", "rename", "rebuild")
ONLINE_SAFE = frozenset({"rebuild", "type_change"})  # what an online revision's ALTER TABLE may do: copy
DML = ("UPDATE", "DELETE", "INSERT")  # statements that change rows, not the table
# Rows per second a table-copying ALTER copies on the testbed's db hosts (bench.online_ddl's
# plain ALTER of sale_item: 5 M rows in 17.4 s): what a blocking statement's estimate scales by.
COPY_ROWS_PER_S = 290_000
_TARGET = re.compile(r"(?:ALTER TABLE|CREATE (?:UNIQUE )?INDEX \S+ ON|DROP TABLE(?: IF EXISTS)?|RENAME TABLE"
                     r"|UPDATE|DELETE FROM|INSERT INTO) `?(\w+)")
_RUNNING = re.compile(r"^-- Running upgrade (\S*) -> (\S+)", re.M)


def by_revision(sql: str) -> dict[str, list[str]]:
    """Statements of each revision, in order, from `alembic upgrade --sql` output."""
    out, parts = {}, _RUNNING.split(sql)
    for i in range(1, len(parts) - 2, 3):
        body = re.sub(r"^--.*$", "", parts[i + 2], flags=re.M)
        out[parts[i + 1]] = [" ".join(s.split()) for s in body.split(";") if s.strip()]
    return out


def on_existing(statements: list[str]):
    """(statement, its upper case, its table) for each statement on a table that is not
    new: made by an earlier revision, not by one of ``statements`` before it."""
    created = set()
    for st in statements:
        up = st.upper()
        m = re.match(r"CREATE TABLE (?:IF NOT EXISTS )?`?(\w+)", up)
        if m:
            created.add(m.group(1))
            continue
        m = _TARGET.match(up)
        if m and m.group(1) not in created:
            yield st, up, st[m.start(1):m.end(1)]


def findings(statements: list[str]) -> list[tuple[str, str]]:
    """(rule, statement) for every risky statement."""
    out = []
    for st, up, _ in on_existing(statements):
        if up.startswith(DML):
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


def lint(sql: str, intended: dict[str, set[str]], online: set[str] = frozenset()) -> list[str]:
    """One message per risky statement not intended by its revision, nor what its
    revision's online change is for (``online``: the revisions that declare it)."""
    out = []
    for rev, statements in by_revision(sql).items():
        for rule, st in findings(statements):
            if rule in intended.get(rev, set()) or (rev in online and rule in ONLINE_SAFE
                                                    and st.upper().startswith("ALTER TABLE")):
                continue
            hint = " (declare the revision `online = True` and use online.alter: it copies under writes)" \
                if rule in ONLINE_SAFE else ""
            out.append(f"{rev}: {rule}: {st}{hint}")
    return out


def locks(sql: str, online: set[str], rows: dict[str, int]) -> list[str]:
    """What each statement on an existing table would lock, and for how long at its
    row count (``rows``: table -> estimated rows)."""
    out = []
    for rev, statements in by_revision(sql).items():
        for st, up, table in on_existing(statements):
            if table == "alembic_version":  # alembic's own bookkeeping
                continue
            n = rows.get(table)
            size = f"~{n:,} rows" if n is not None else "rows unknown"
            rules = {r for r, _ in findings([st])}
            if up.startswith(DML):
                what = "locks the rows it changes until its revision commits"
            elif rules & ONLINE_SAFE and rev in online:
                what = "online: copied under writes, which wait only for the swap's bounded metadata lock"
            elif rules & ONLINE_SAFE:
                what = (f"copies the table: writes to it wait ~{max(1, round((n or 0) / COPY_ROWS_PER_S))} s "
                        f"(at {COPY_ROWS_PER_S:,} rows/s), and the replica falls behind as long")
            else:
                what = "in place: a brief metadata lock"
            out.append(f"{rev}: {table} ({size}): {what}")
    return out
