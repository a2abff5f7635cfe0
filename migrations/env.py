"""alembic environment: connects with the app's own settings (environment variables).

Each revision runs in a transaction of its own (MySQL/MariaDB DDL commits anyway),
so a failure leaves the version table at the last revision that completed. DDL
that waits longer than ALEMBIC_LOCK_WAIT_TIMEOUT (seconds, default 10; stack-app
sets it from app_migration_lock_wait) for a metadata lock fails. The
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
    # A long metadata lock fails the DDL fast instead of queueing the site behind it.
    connection.exec_driver_sql(f"SET SESSION lock_wait_timeout = {int(os.environ.get('ALEMBIC_LOCK_WAIT_TIMEOUT', 10))}")
    connection.commit()  # else the transaction that SET began swallows every revision's, uncommitted at close
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
        # TLS, the server's certificate checked against the internal CA (TLS_CA)
        engine = create_engine(url(), connect_args={"ssl_ca": os.environ["TLS_CA"], "ssl_verify_cert": True,
                                                    "ssl_verify_identity": True})
    with engine.connect() as connection:
        run(connection)
