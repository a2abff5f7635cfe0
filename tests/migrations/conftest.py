"""The migrations against a real MariaDB: a throwaway server this session starts on
the controller (mariadbd from mariadb-server-core, installed by ./quickstart), on a
socket in a temporary directory, with no network and no grant tables. pytest-alembic's fixtures are bound to it."""

import getpass
import subprocess
import time
from io import StringIO

import pytest
import sqlalchemy
from alembic.config import Config

from tests.helpers import REPO


@pytest.fixture(scope="session")
def mariadb(tmp_path_factory):
    base = tmp_path_factory.mktemp("mariadb")
    data, socket = base / "data", base / "mysqld.sock"
    data.mkdir()
    user = getpass.getuser()
    # No system tables (mariadb-install-db's SQL ships with the full server package):
    # with no grant tables at all, the schema checks need none.
    server = subprocess.Popen(["mariadbd", "--no-defaults", f"--user={user}", f"--datadir={data}",
                               f"--socket={socket}", "--skip-networking", "--skip-grant-tables",
                               f"--log-error={base / 'error.log'}", "--innodb-buffer-pool-size=64M"])
    deadline = time.monotonic() + 60
    while not socket.exists():
        assert server.poll() is None and time.monotonic() < deadline, (base / "error.log").read_text()[-2000:]
        time.sleep(0.1)
    yield socket
    server.terminate()
    server.wait(60)


@pytest.fixture
def alembic_engine(mariadb):
    """A fresh, empty database for each test."""
    root = sqlalchemy.create_engine(f"mysql+pymysql://root@localhost/?unix_socket={mariadb}")
    with root.begin() as conn:
        conn.exec_driver_sql("DROP DATABASE IF EXISTS migrations_check")
        conn.exec_driver_sql("CREATE DATABASE migrations_check CHARACTER SET utf8mb4")
    root.dispose()
    engine = sqlalchemy.create_engine(f"mysql+pymysql://root@localhost/migrations_check?unix_socket={mariadb}")
    yield engine
    engine.dispose()


@pytest.fixture
def alembic_config():
    return Config(str(REPO / "migrations/alembic.ini"))


@pytest.fixture(scope="session")
def offline_sql() -> str:
    """`alembic upgrade head --sql`, as the migration flow shows it."""
    out = StringIO()
    from alembic import command
    command.upgrade(Config(str(REPO / "migrations/alembic.ini"), output_buffer=out), "head", sql=True)
    return out.getvalue()
