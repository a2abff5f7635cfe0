"""stack-app plan, run by a release's own Python (its alembic and driver) with the
app's settings in its environment (App.alembic passes this file's source to
``python -c``; nothing here may import stack-app).

    python -c SOURCE ALEMBIC_INI [DOWNGRADE_TARGET]

Prints the plan as JSON: current and head revisions, each pending revision with
what it declares, their offline SQL, and a fingerprint of the schema as it is.
With a downgrade's target, the pending revisions are what it undoes, newest first.
"""

import hashlib
import io
import json
import os
import sys
from urllib.parse import quote_plus

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text


def main():
    e, ini = os.environ, sys.argv[1]
    url = (f"mysql+pymysql://{quote_plus(e['DATABASE_USER'])}:{quote_plus(e['DATABASE_PASSWORD'])}"
           f"@{e['DATABASE_HOST']}:{e['DATABASE_PORT']}/{e['DATABASE_NAME']}")
    with create_engine(url, connect_args={"connect_timeout": 5, "ssl_ca": e["TLS_CA"],
                                          "ssl_verify_cert": True, "ssl_verify_identity": True}).connect() as c:
        current = MigrationContext.configure(c).get_current_revision()
        # The app's tables: what an online change was copying into (_<table>_new, or
        # _<table>_old once swapped in) is not the schema.
        ours = "table_schema = DATABASE() AND table_name NOT REGEXP '^_.+_(new|old)$'"
        rows = c.execute(text("SELECT table_name, column_name, column_type, is_nullable, column_default "
                              f"FROM information_schema.columns WHERE {ours} ORDER BY 1, 2")).all()
        rows += c.execute(text("SELECT table_name, index_name, seq_in_index, column_name, non_unique "
                               f"FROM information_schema.statistics WHERE {ours} ORDER BY 1, 2, 3")).all()
        # estimates (InnoDB's), for the DDL lint's lock times
        sizes = dict(c.execute(text(f"SELECT table_name, table_rows FROM information_schema.tables WHERE {ours}"
                                    )).all())
    script = ScriptDirectory.from_config(Config(ini))
    head = script.get_current_head()
    to = sys.argv[2] if len(sys.argv) > 2 else None
    sql = io.StringIO()
    if to:
        pending = list(script.iterate_revisions(current, to)) if current != to else []
        pending = [r for r in pending if r.revision != to]
        if pending:
            command.downgrade(Config(ini, output_buffer=sql), f"{current}:{to}", sql=True)
    else:
        pending = list(reversed(list(script.iterate_revisions(head, current)))) if head != current else []
        if pending:
            command.upgrade(Config(ini, output_buffer=sql), f"{current}:head" if current else "head", sql=True)
    print(json.dumps({"current": current, "head": head, "sql": sql.getvalue(),
                      "schema": hashlib.sha256(repr(rows).encode()).hexdigest()[:16], "rows": sizes,
                      "pending": [{"revision": r.revision, "doc": r.doc, "breaking": r.module.breaking,
                                   "destructive": r.module.destructive, "intended": sorted(r.module.intended),
                                   "online": getattr(r.module, "online", False)}
                                  for r in pending]}))


if __name__ == "__main__":
    main()
