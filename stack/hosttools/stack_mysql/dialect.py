"""What both flavours share: their SQL dialects, the server's own databases and
accounts, and the root connection over the unix socket."""

from __future__ import annotations


# SQL that differs between the flavours. tasks/mysql.py decides the flavour.
DIALECT = {
    "mariadb": {
        "client": "mariadb",
        "dump": "mariadb-dump",
        "socket_plugin": "unix_socket",
        "replica_status": "SHOW SLAVE STATUS",
        "stop_replica": "STOP SLAVE",
        "reset_replica": "RESET SLAVE ALL",
        "start_replica": "START SLAVE",
        "change_source": ("CHANGE MASTER TO MASTER_HOST=%s, MASTER_PORT=%s, MASTER_USER=%s, "
                          "MASTER_PASSWORD=%s, MASTER_USE_GTID=slave_pos"),
        # TLS to the primary, its certificate checked against the internal CA and its address
        "source_tls": "CHANGE MASTER TO MASTER_SSL=1, MASTER_SSL_CA=%s, MASTER_SSL_VERIFY_SERVER_CERT=1",
        "tls_in_use": ("Master_SSL_Allowed", "Master_SSL_Verify_Server_Cert"),
        "client_verify": "ssl-verify-server-cert",  # the client's option file: name and address checked
        "io_running": "Slave_IO_Running",
        "sql_running": "Slave_SQL_Running",
        "dump_position": ["--gtid", "--master-data=1"],
        # SHOW GRANTS prints these names for what the data may call otherwise.
        "aliases": {"REPLICATION CLIENT": "BINLOG MONITOR"},
    },
    "mysql": {
        "client": "mysql",
        "dump": "mysqldump",
        "socket_plugin": "auth_socket",
        "replica_status": "SHOW REPLICA STATUS",
        "stop_replica": "STOP REPLICA",
        "reset_replica": "RESET REPLICA ALL",
        "start_replica": "START REPLICA",
        "change_source": ("CHANGE REPLICATION SOURCE TO SOURCE_HOST=%s, SOURCE_PORT=%s, SOURCE_USER=%s, "
                          "SOURCE_PASSWORD=%s, SOURCE_AUTO_POSITION=1, GET_SOURCE_PUBLIC_KEY=1"),
        "source_tls": ("CHANGE REPLICATION SOURCE TO SOURCE_SSL=1, SOURCE_SSL_CA=%s, "
                       "SOURCE_SSL_VERIFY_SERVER_CERT=1"),
        "tls_in_use": ("Source_SSL_Allowed", "Source_SSL_Verify_Server_Cert"),
        "client_verify": "ssl-mode=VERIFY_IDENTITY",
        "io_running": "Replica_IO_Running",
        "sql_running": "Replica_SQL_Running",
        "dump_position": ["--set-gtid-purged=ON", "--source-data=1"],
        "aliases": {},
    },
}
SYSTEM_DATABASES = {"mysql", "information_schema", "performance_schema", "sys"}
# Accounts the server itself owns; everything else is ours or unwanted.
SYSTEM_ACCOUNTS = {("mariadb.sys", "localhost"), ("mysql", "localhost"), ("mysql.sys", "localhost"),
                   ("mysql.session", "localhost"), ("mysql.infoschema", "localhost"), ("debian-sys-maint", "localhost")}


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
