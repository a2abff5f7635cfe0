"""alembic environment: connects with the app's own settings (environment variables)."""

import os
from urllib.parse import quote_plus

from alembic import context
from sqlalchemy import create_engine


def url() -> str:
    e = os.environ
    return (f"mysql+pymysql://{quote_plus(e['DATABASE_USER'])}:{quote_plus(e['DATABASE_PASSWORD'])}"
            f"@{e['DATABASE_HOST']}:{e.get('DATABASE_PORT', '3306')}/{e['DATABASE_NAME']}?charset=utf8mb4")


with create_engine(url()).connect() as connection:
    context.configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()
