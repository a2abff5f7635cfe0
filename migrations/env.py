"""alembic environment: connects with the app's own settings (environment variables).

Each revision runs in a transaction of its own (MySQL/MariaDB DDL commits anyway),
so a failure leaves the version table at the last revision that completed. With
ALEMBIC_LOCK_WAIT_TIMEOUT (seconds; stack-app sets it), DDL that waits longer for a
metadata lock fails instead of queueing every query behind it. The
tests hand in a connection of their own (pytest-alembic) through the config's
attributes. Offline (``--sql``) needs no database at all.
"""

import os
from urllib.parse import quote_plus

from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.engine import Engine


def url() -> str:
    e = os.environ
    return (f"mysql+pymysql://{quote_plus(e['DATABASE_USER'])}:{quote_plus(e['DATABASE_PASSWORD'])}"
            f"@{e['DATABASE_HOST']}:{e.get('DATABASE_PORT', '3306')}/{e['DATABASE_NAME']}?charset=utf8mb4")


def run(connection):
    if os.environ.get("ALEMBIC_LOCK_WAIT_TIMEOUT"):  # a long metadata lock fails the DDL fast, not the site
        connection.exec_driver_sql(f"SET SESSION lock_wait_timeout = {int(os.environ['ALEMBIC_LOCK_WAIT_TIMEOUT'])}")
    context.configure(connection=connection, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    context.configure(dialect_name="mysql", literal_binds=True, transaction_per_migration=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    engine = context.config.attributes.get("connection")
    if not isinstance(engine, Engine):
        engine = create_engine(url())
    with engine.connect() as connection:
        run(connection)
