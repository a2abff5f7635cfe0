"""MariaDB: db_servers get the server (one primary, GTID replicas); app_servers
get the client. The distribution's own MariaDB, the only server supported
(docs/platforms.md says why MySQL 8.0 is not).

Accounts and replication are applied on the host by stack-mysql
(stack/hosttools/stack_mysql), over the unix socket as root, from a 0600
desired-state file: no password is ever on a command line or in the output.
"""

import hashlib
import ipaddress

from pyinfra import host, inventory
from pyinfra.facts.hardware import Memory
from pyinfra.facts.server import Command
from pyinfra.operations import server, systemd

from stack import packages, programs, sandbox, secrets, services, tls
from stack.configs import checked_template, directories, file, render

SERVICE = "mariadb"
# --help --verbose parses every option; MariaDB reports bad values on stderr as
# [ERROR] yet may exit 0, so both are checked.
CONFIG_CHECK = ('out=$(mariadbd --defaults-file={path} --help --verbose 2>&1 >/dev/null) '
                '&& ! printf "%s\\n" "$out" | grep -F "[ERROR]"')

packages.present("MySQL client", ["mariadb-client"])


def native_hash(password: str) -> str:
    """mysql_native_password's stored form: lets the host compare without the secret."""
    return "*" + hashlib.sha1(hashlib.sha1(password.encode()).digest()).hexdigest().upper()


def addresses(group: str) -> list[str]:
    return sorted(h.data.private_address for h in inventory.get_group(group, []))


def buffer_pool_size() -> str:
    if host.data.mysql_innodb_buffer_pool_size:
        return host.data.mysql_innodb_buffer_pool_size
    # A quarter of RAM in 128M steps, at least 128M (the seed: 1G on a 4G host).
    return f"{max(128, host.get_fact(Memory) // 4 // 128 * 128)}M"


def desired_state() -> dict:
    """What stack-mysql brings the server to. Secrets travel as hashes, except the
    two a replica must present to its primary."""
    db_hosts, app_hosts = addresses("db_servers"), addresses("app_servers")
    app_db = f"{host.data.mysql_app_database}.*"
    accounts = [  # (user, its password secret, from where, grants)
        (host.data.mysql_app_user, "mysql_app_password", app_hosts, {app_db: host.data.mysql_app_privileges}),
        # READ_ONLY ADMIN: a migration runs while the primary is frozen (stack-mysql freeze)
        (host.data.mysql_migration_user, "mysql_migration_password", app_hosts,
         # SLAVE MONITOR: an online change watches the replica's lag (migrations/online.py)
         {app_db: host.data.mysql_migration_privileges, "*.*": ["READ_ONLY ADMIN", "SLAVE MONITOR"]}),
        (host.data.mysql_replication_user, "mysql_replication_password", db_hosts, {"*.*": ["REPLICATION SLAVE"]}),
        # INSERT on backup_record: stack-backup records each backup there, on the primary
        (host.data.mysql_backup_user, "mysql_backup_password", ["localhost", *db_hosts],
         {"*.*": host.data.mysql_backup_privileges, f"{host.data.mysql_app_database}.backup_record": ["INSERT"]}),
        (host.data.mysql_monitoring_user, "mysql_monitoring_password", ["localhost"],
         {"*.*": ["PROCESS", "REPLICATION CLIENT", "SLAVE MONITOR"]}),
    ]
    # Over the network TLS is required (the server refuses plaintext anyway); the
    # unix socket is local, so it is not.
    users = [{"name": name, "host": addr, "auth": native_hash(secrets.get(secret)), "grants": grants,
              "require_ssl": addr != "localhost"}
             for name, secret, hosts, grants in accounts for addr in hosts]
    state = {
        "socket": "/run/mysqld/mysqld.sock",
        "root_auth": native_hash(secrets.get("mysql_root_password")),
        "databases": [{"name": host.data.mysql_app_database, "charset": host.data.mysql_character_set,
                       "collation": host.data.mysql_collation}],
        "users": users,
        "optimize": {"tables": host.data.mysql_optimize_tables, "lock_wait": host.data.mysql_optimize_lock_wait,
                     "min_free_percent": host.data.mysql_optimize_min_free_percent},
    }
    if host.data.mysql_role == "replica":
        primary = next(h for h in inventory.get_group("db_servers") if h.data.mysql_role == "primary")
        state["replication"] = {
            "host": primary.data.private_address, "port": host.data.mysql_port,
            "user": host.data.mysql_replication_user, "ca": tls.CA_CERT,
            "password": secrets.get("mysql_replication_password"),
            "seed_user": host.data.mysql_backup_user, "seed_password": secrets.get("mysql_backup_password"),
        }
    return state


if "db_servers" in host.groups:
    is_primary = host.data.mysql_role == "primary"

    packages.present("MySQL server", ["mariadb-server", "mariadb-backup", "python3-pymysql"])

    # the data private, secure_file_priv's, the slow query log's
    directories(("/var/lib/mysql", "0750", "mysql", "mysql"), ("/var/lib/mysql-files", "0750", "mysql", "mysql"),
                ("/var/log/mysql", "0750", "mysql", "adm"), name="MySQL directories")
    # Writes its data, logs and socket only; keeps CAP_IPC_LOCK (memlock), as its own unit grants.
    sandbox.drop_in(SERVICE, write=["/var/lib/mysql", "/var/log/mysql", "/run/mysqld"],
                    capabilities=["CAP_IPC_LOCK"], allow=["@resources"])

    services.member("MySQL may read the TLS key", "mysql", "ssl-cert")
    services.kept(name="MySQL running", service=SERVICE, running=True, enabled=True)
    config = checked_template(
        name="MySQL config",
        src="templates/mysql/stack.cnf.j2",
        dest="/etc/mysql/mariadb.conf.d/90-stack.cnf",
        check=CONFIG_CHECK,
        apply=f"systemctl restart {SERVICE}",  # buffer pool, log files: restart, not reload
        mode="0640",
        group="mysql",
        # an int that is unique per host: the private address (validated unique)
        server_id=host.data.mysql_server_id or int(ipaddress.ip_address(host.data.private_address)) % 2**32,
        buffer_pool_size=buffer_pool_size(),
        replica=not is_primary,
        tls=tls,
    )
    tls.restart_on_renewal(SERVICE, config)  # a new certificate is read at start

    desired = programs.install("stack-mysql", config_name="MySQL desired state",
                               config_path="/etc/stack/mysql.json", config=desired_state())

    def check(what):
        out = host.get_fact(Command, command=f"stack-mysql {what} --check >/dev/null 2>&1 && echo yes || echo no")
        return out == "yes"

    # Both operations exist on every db host (skipped where they don't apply), so the
    # primary's accounts are always in place before a replica seeds from it.
    in_sync = check("accounts")
    server.shell(name="MySQL databases, users and grants (primary)",
                 commands=["stack-mysql accounts --apply"],
                 _if=lambda: is_primary and (desired.did_change() or not in_sync))
    replicating = check("replica")
    server.shell(name="MySQL replica seeded and replicating",
                 commands=["stack-mysql replica --ensure"],
                 _if=lambda: not is_primary and not replicating)

    # Seed 001's monthly ANALYZE/OPTIMIZE: each db host for its own copy, online or not at all.
    units = [file(name=f"systemd {unit}", dest=f"/etc/systemd/system/{unit}",
                  content=render(f"templates/mysql/{unit}.j2"))
             for unit in ("stack-mysql-optimize.service", "stack-mysql-optimize.timer")]
    systemd.daemon_reload(name="systemd reload", _if=lambda: any(u.did_change() for u in units))
    services.kept(name="Monthly table optimize timer", service="stack-mysql-optimize.timer", running=True,
                  enabled=True)
