"""The one table of data keys: each key's check, the groups whose hosts need it and its doc page.

A key's default and its one-line description stay in group_data/*.py, where pyinfra users
look for them (the comment just above each assignment). ``python -m stack.keys`` reads
them from there and prints docs/keys.md; ``stack.validate`` checks every host's data
against ``KEYS``. A new key: its assignment in group_data/ with a comment line above it, its
entry here, then ``python -m stack.keys > docs/keys.md`` (tests/unit/test_keys.py holds all three
together).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from stack import secrets, shards
from stack.checks import (Invalid, absolute_path, backup_reference, boolean, described, email,
                          fingerprint, hostname, http_url, identifier, integer, ip_address, list_of,
                          matching, network, on_calendar, one_of, optional, port, privilege, redis_renames, redis_size,
                          size, string, timezone, user_name)

REPO = Path(__file__).resolve().parent.parent
# Role groups: every inventory uses these names. Besides them a host is only in
# "all" and its environment: the group pyinfra names after the inventory file
# (production, staging, testbed, eu-prod, ...), which holds every host.
# base_servers: hosts with no role, which get only what every host gets (a bastion,
# the testbed's --extra hosts).
ROLE_GROUPS = ("db_servers", "cache_servers", "app_servers", "web_servers", "monitoring_servers",
               "base_servers")
# Our data keys start with a component's name and a "_"; each component has its page, docs/<component>.md.
COMPONENTS = ("base", "tls", "mysql", "redis", "app", "nginx", "influxdb", "grafana", "telegraf", "backup")


# A check of our data's own shape: it needs the role groups and the table.
@described('role group -> openings, each {"port": a number or a *_port key, "from": "any" or [role groups]}')
def firewall_services(v):
    if not isinstance(v, dict):
        raise Invalid(f"{v!r} is not a mapping of group -> openings")
    for group, openings in v.items():
        if group not in ROLE_GROUPS:
            raise Invalid(f"unknown group {group!r}")
        for o in openings:
            if not isinstance(o, dict) or set(o) != {"port", "from"}:
                raise Invalid(f"{group}: {o!r} must have exactly 'port' and 'from'")
            if isinstance(o["port"], str):
                if not o["port"].endswith("_port") or o["port"] not in KEYS:
                    raise Invalid(f"{group}: {o['port']!r} is not a port number or a *_port key")
            else:
                port(o["port"])
            if o["from"] != "any":
                list_of(one_of(*ROLE_GROUPS), non_empty=True)(o["from"])


# -- the table ----------------------------------------------------------------------
@dataclass(frozen=True)
class Key:
    check: object  # from stack.checks, or firewall_services; None: pyinfra's own key, pyinfra checks it
    required_in: tuple[str, ...] = ()  # groups ("all" or roles) whose hosts must have it, not None
    page: str = ""  # docs/<page>.md; "": the component its name starts with
    # What a key no group_data file sets is and where it is set (per host, or a task's --data);
    # a key group_data sets is described by its comment there.
    about: str = ""


ALL = ("all",)
DB, CACHE, APP, WEB, MONITORING = ("db_servers",), ("cache_servers",), ("app_servers",), ("web_servers",), \
    ("monitoring_servers",)
# Every key in group_data/, the inventories and the tasks' --data. A key's required groups are
# reported in this order, so keep it.
KEYS = {
    "private_address": Key(ip_address, ALL, "base", about="Per host, in the inventory: the address on the "
                           "private network that services bind to and that peers are admitted from (IP)."),
    "ssh_user": Key(user_name, page="base"),
    "_sudo": Key(None, page="base"),
    "secrets_file": Key(optional(string), page="base"),
    "backup_age_identity_file": Key(optional(string)),
    "logs_keep_days": Key(integer(1, 3650)),
    "logs_journal_max_use": Key(size),
    "logs_archive_schedule": Key(on_calendar),
    "logs_s3_keep_days": Key(integer(1, 3650)),
    "scan_security_updates_max": Key(integer(0, 10000)),
    "scan_lynis_min_index": Key(integer(0, 100)),
    "base_packages": Key(list_of(string)),
    "base_timezone": Key(timezone, ALL),
    "base_ntp_servers": Key(list_of(hostname, non_empty=True), ALL),
    "base_apt_proxy": Key(optional(http_url)),
    "base_login_banner": Key(matching(r"[ -~]{1,300}", "one line of printable ASCII")),
    "base_sshd_port": Key(port, ALL),
    "base_sshd_allow_users": Key(list_of(user_name)),
    "base_firewall_ssh_from": Key(list_of(network, non_empty=True), ALL),
    "base_firewall_services": Key(firewall_services, ALL),
    "mysql_role": Key(one_of("primary", "replica"), DB, about='Per db host, in the inventory: "primary" '
                      "(exactly one) or \"replica\"."),
    "mysql_port": Key(port, ALL),
    "mysql_app_database": Key(identifier, ALL),
    "mysql_app_user": Key(identifier, ALL),
    "mysql_replication_user": Key(identifier, ALL),
    "mysql_backup_user": Key(identifier, ALL),
    "mysql_monitoring_user": Key(identifier, ALL),
    "mysql_migration_user": Key(identifier, ALL),
    "mysql_innodb_buffer_pool_size": Key(optional(size)),
    "mysql_optimize_tables": Key(list_of(identifier)),
    "mysql_optimize_schedule": Key(on_calendar),
    "mysql_optimize_min_free_percent": Key(integer(0, 100)),
    "mysql_optimize_lock_wait": Key(integer(1, 3600)),
    "mysql_innodb_log_file_size": Key(size, DB),
    "mysql_max_connections": Key(integer(10, 100000), DB),
    "mysql_slow_query_log": Key(boolean),
    "mysql_long_query_time": Key(integer(0, 3600), DB),
    "mysql_binlog_expire_days": Key(integer(1, 99), DB),
    "mysql_character_set": Key(identifier, DB),
    "mysql_collation": Key(identifier, DB),
    "mysql_server_id": Key(optional(integer(1, 2**32 - 1))),
    "mysql_app_privileges": Key(list_of(privilege, non_empty=True), DB),
    "mysql_backup_privileges": Key(list_of(privilege, non_empty=True), DB),
    "mysql_migration_privileges": Key(list_of(privilege, non_empty=True), DB),
    "redis_port": Key(port, ALL),
    "redis_app_user": Key(user_name, ALL),
    "redis_monitoring_user": Key(user_name, ALL),
    "redis_replica_user": Key(user_name, ALL),
    "redis_admin_user": Key(user_name, ALL),
    "redis_maxmemory": Key(redis_size, CACHE),
    "redis_maxmemory_policy": Key(one_of("noeviction", "allkeys-lru", "allkeys-lfu", "allkeys-random",
                                         "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl"),
                                  CACHE),
    "redis_save": Key(list_of(list_of(integer(1, 10**9))), CACHE),
    "redis_appendonly": Key(boolean, CACHE),
    "redis_rename_commands": Key(redis_renames, CACHE),
    "redis_replica_of": Key(optional(ip_address)),
    "tls_cert_days": Key(integer(2, 3650), ALL),
    "tls_renew_days": Key(integer(1, 3649), ALL),
    "app_name": Key(identifier, ALL),
    "app_port": Key(port, ALL),
    "app_source": Key(string, APP),
    "app_migrations": Key(string, APP),
    "app_user": Key(user_name, APP),
    "app_root": Key(absolute_path, APP),
    "app_keep_releases": Key(integer(2, 100), APP),
    "app_health_timeout": Key(integer(1, 600), APP),
    "app_migration_lock_wait": Key(integer(1, 3600), APP),
    "app_migration_online_max_lag": Key(integer(1, 3600), APP),
    "app_migration_online_max_load": Key(integer(1, 100000), APP),
    "app_migration_online_critical_load": Key(integer(1, 100000), APP),
    "app_migration_online_cutover_wait": Key(integer(1, 60), APP),
    "app_bake_error_rate_percent": Key(integer(0, 100), APP),
    "app_bake_error_rate_seconds": Key(integer(1, 3600), APP),
    "app_bake_p99_limit": Key(integer(1, 600), APP),
    "app_bake_p99_seconds": Key(integer(1, 3600), APP),
    "app_memory_max": Key(size, APP),
    "nginx_server_name": Key(hostname, WEB),
    "nginx_tls_self_signed": Key(boolean, WEB),
    "nginx_tls_certificate": Key(optional(string)),
    "nginx_tls_key": Key(optional(string)),
    "nginx_tls_certbot_email": Key(optional(email)),
    "nginx_client_max_body_size": Key(matching(r"[1-9][0-9]*[kmg]?", "an nginx size like 16m"), WEB),
    "nginx_proxy_timeout": Key(integer(1, 3600), WEB),
    "nginx_static_expires_days": Key(integer(0, 3650), WEB),
    "nginx_hsts_max_age": Key(integer(0, 10**9), WEB),
    "nginx_upstream_keepalive": Key(integer(1, 10000), WEB),
    "nginx_maintenance_flag": Key(absolute_path, WEB),
    "nginx_maintenance_retry_after": Key(integer(1, 86400), WEB),
    "influxdb_port": Key(port, ALL),
    "influxdb_major": Key(one_of(1, 2), MONITORING),
    "influxdb_org": Key(matching(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", "an organisation name"), MONITORING),
    "influxdb_bucket": Key(identifier, ALL),
    "influxdb_retention_days": Key(integer(1, 36500), ALL),
    "influxdb_admin_user": Key(identifier, MONITORING),
    "influxdb_writer_user": Key(identifier, ALL),
    "influxdb_failure_webhook": Key(boolean, MONITORING),
    "influxdb_success_webhook": Key(boolean, MONITORING),
    "influxdb_apt_url": Key(optional(http_url)),
    "influxdb_apt_suite": Key(identifier),
    "influxdb_apt_components": Key(list_of(identifier, non_empty=True)),
    "influxdb_apt_key_url": Key(optional(http_url)),
    "influxdb_apt_key_fingerprint": Key(fingerprint),
    "telegraf_enabled": Key(boolean, ALL),
    "telegraf_interval": Key(integer(1, 3600)),
    "telegraf_nginx_status_port": Key(port),
    "grafana_port": Key(port, ALL),
    "grafana_enabled": Key(boolean, MONITORING),
    "grafana_apt_url": Key(optional(http_url)),
    "grafana_apt_suite": Key(identifier),
    "grafana_apt_components": Key(list_of(identifier, non_empty=True)),
    "grafana_apt_key_url": Key(optional(http_url)),
    "grafana_apt_key_fingerprint": Key(fingerprint),
    "grafana_admin_user": Key(identifier),
    "grafana_alert_emails": Key(list_of(email)),
    "grafana_smtp_host": Key(matching(r"[A-Za-z0-9.-]+:[0-9]{1,5}", "host:port")),
    "grafana_alert_error_rate_percent": Key(integer(1, 100)),
    "grafana_alert_error_rate_for": Key(integer(0, 86400)),
    "grafana_alert_p99_seconds": Key(integer(1, 3600)),
    "grafana_alert_p99_for": Key(integer(0, 86400)),
    "grafana_alert_cpu_percent": Key(integer(1, 100)),
    "grafana_alert_cpu_for": Key(integer(0, 86400)),
    "grafana_alert_memory_percent": Key(integer(1, 100)),
    "grafana_alert_memory_for": Key(integer(0, 86400)),
    "grafana_alert_auth_failure_percent": Key(integer(1, 100)),
    "grafana_alert_auth_failure_for": Key(integer(0, 86400)),
    "grafana_alert_fetch_failure_percent": Key(integer(1, 100)),
    "grafana_alert_fetch_failure_for": Key(integer(0, 86400)),
    "grafana_runbook_url": Key(optional(http_url)),
    "grafana_alert_backup_age_hours": Key(integer(1, 24 * 90)),
    "grafana_alert_drill_age_days": Key(integer(1, 365)),
    "backup_enabled": Key(boolean, ALL),
    "backup_method": Key(one_of("physical", "logical")),
    "backup_source": Key(one_of("replica", "primary")),
    "backup_schedule": Key(matching(r"([01][0-9]|2[0-3]):[0-5][0-9]", "a time of day like 02:00")),
    "backup_local_dir": Key(absolute_path),
    "backup_local_keep_days": Key(integer(1, 3650)),
    "backup_s3_endpoint": Key(optional(http_url)),
    "backup_s3_bucket": Key(matching(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", "an S3 bucket name")),
    "backup_s3_region": Key(optional(matching(r"[a-z0-9-]{2,32}", "an S3 region name"))),
    "backup_s3_keep_days": Key(integer(1, 3650)),
    "backup_s3_sse": Key(optional(one_of("AES256", "aws:kms"))),
    "backup_binlog_flush_seconds": Key(integer(10, 3600)),
    # the tasks' arguments (--data key=value), never in group data
    "backup_id": Key(backup_reference, about="tasks/restore.py's --data: the backup to restore (default "
                     "latest); tasks/rollback.py's with db=downgrade across a destructive revision."),
    "backup_database": Key(identifier, about="tasks/restore.py's --data: restore only this database, "
                           "from a logical backup."),
    "until": Key(matching(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z",
                          "a UTC time like 2026-11-25T14:30:00Z"), page="backup",
                 about="tasks/restore.py's --data: a point-in-time restore to then (UTC)."),
    "until_gtid": Key(matching(r"[0-9]+-[0-9]+-[0-9]+(,[0-9]+-[0-9]+-[0-9]+)*", "a GTID position like 0-1-42"),
                      page="backup", about="tasks/restore.py's --data: a point-in-time restore up to this "
                      "transaction, included (from SELECT @@gtid_binlog_pos, or mariadb-binlog's output)."),
    "release": Key(matching(r"[0-9]{14}-[0-9a-f]{12}", "a release id like 20261125202119-2f85ac4142a1"),
                   page="app", about="tasks/rollback.py's --data: the release to go back to "
                   "(default: the one before the current)."),
    "maintenance": Key(one_of("on", "off"), page="nginx",
                       about="tasks/maintenance.py's --data: turn maintenance mode on or off."),
    "db": Key(one_of("downgrade"), page="app", about="tasks/rollback.py's --data: also downgrade the schema "
              "to the target release's revision."),
    "restore_backup": Key(backup_reference, page="app", about="tasks/rollback.py's --data: after the app, "
                          "restore the database from this backup (the restore flow)."),
    "shard": Key(shards.check, page="fleet",
                 about="any run's --data: only this shard's hosts (stack/shards.py): core, or i/n."),
    "break_lock": Key(one_of("yes"), page="runbook",
                      about="any run's --data: break the flow lock a controller that died left on the hosts "
                      "(stack/lock.py); the run and the host's syslog say whose."),
}
# Secrets whose name starts with no component's: their page.
SECRET_PAGES = {"alert": "grafana", "s3": "backup"}
INTRO = """\
# Data keys

Generated by `python -m stack.keys > docs/keys.md` from `stack/keys.py` (each key's check, the groups
whose hosts need it, its page) and `group_data/*.py` (defaults, and the comment above each as its
description): edit those and run it again; a unit test fails while this file is out of date.
Several files may set a key: a role's file wins over all.py for that role's hosts, and an environment's
file (production.py, ...) over every other. Secrets are never in group data: they come from the
secrets file or `STACK_*` variables ([setup.md](setup.md#secrets))."""


def page(name: str) -> str:
    return KEYS[name].page or name.split("_")[0]


def group_data(folder: Path = REPO / "group_data") -> dict[str, dict[str, tuple[object, str]]]:
    """file name -> {key: (its value, the comment lines just above it)}, in pyinfra's order: all.py, the
    roles' files, then the rest (the environments'), whose values win. A "# --" line heads a section."""
    rank, out = {name: i for i, name in enumerate(["all", *ROLE_GROUPS])}, {}
    for path in sorted(folder.glob("*.py"), key=lambda p: (rank.get(p.stem, len(rank)), p.stem)):
        lines = path.read_text().splitlines()
        out[path.name] = found = {}
        for node in ast.parse("\n".join(lines), path.name).body:
            if isinstance(node, ast.Assign):
                above = node.lineno - 2
                while above >= 0 and lines[above].startswith("#") and not lines[above].startswith("# --"):
                    above -= 1
                comment = " ".join(line.lstrip("# ") for line in lines[above + 1:node.lineno - 1])
                found |= {target.id: (ast.literal_eval(node.value), comment) for target in node.targets}
    return out


def row(*cells: str) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def markdown() -> str:
    """docs/keys.md: per page, its keys in group_data's order (then the others), then its secrets."""
    set_in, described_as = {}, {}
    for file, found in group_data().items():
        for key, (value, comment) in found.items():
            set_in.setdefault(key, []).append(f"{file}: `{value!r}`")
            described_as.setdefault(key, comment)
    names = [k for k in dict.fromkeys([*set_in, *KEYS]) if k in KEYS]
    out = [INTRO]
    for name in dict.fromkeys([*COMPONENTS, *map(page, names)]):
        out += ["", f"## {name}", "", f"The component's page: [{name}.md]({name}.md).", "",
                row("key", "default", "description", "check", "required in"), row(*["---"] * 5)]
        for k in (k for k in names if page(k) == name):
            spec = KEYS[k]
            out.append(row(f"`{k}`", "; ".join(set_in.get(k, ["none"])), described_as.get(k, spec.about),
                           spec.check.text if spec.check else "pyinfra's own: not checked here",
                           ", ".join(spec.required_in)))
        owned = [s for s in secrets.SECRETS if SECRET_PAGES.get(s.split("_")[0], s.split("_")[0]) == name]
        if owned:
            out += ["", row("secret", "environment variable", "what it is", "needed in"), row(*["---"] * 4)]
        for s in owned:
            groups, what = secrets.SECRETS[s]
            needed = ", ".join(groups) + (" (when the data needs it)" if s in secrets.WHEN else "")
            out.append(row(f"`{s}`", f"`{secrets.env_var(s)}`", what, needed))
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
