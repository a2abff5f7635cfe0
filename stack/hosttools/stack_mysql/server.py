"""What accounts and replica share: the server's own databases and accounts, and
the root connection over the unix socket."""

from __future__ import annotations

SYSTEM_DATABASES = {"mysql", "information_schema", "performance_schema", "sys"}
# Accounts the server itself owns; everything else is ours or unwanted.
SYSTEM_ACCOUNTS = {("mariadb.sys", "localhost"), ("mysql", "localhost"), ("debian-sys-maint", "localhost")}


class Failure(Exception):
    pass


def connect(desired):
    import pymysql

    return pymysql.connect(unix_socket=desired["socket"], user="root", autocommit=True,
                           cursorclass=pymysql.cursors.DictCursor)


def q(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def account(user: str, host: str) -> str:
    return f"{q(user)}@{q(host)}"
