"""Check every host's merged data before any host is contacted.

``problems(hosts)`` returns one line per problem across the whole inventory:
bad types and ranges, missing required keys, unknown keys (typos) under our
prefixes, unknown groups, an inconsistent topology and missing secrets.
``stack.preflight`` runs it from pyinfra's config.py.
"""

from __future__ import annotations

import ipaddress
import re
import zoneinfo
from pathlib import Path
from urllib.parse import urlparse

from stack import secrets, tls

# Role groups: every inventory uses these names. Besides them a host is only in
# "all" and its environment: the group pyinfra names after the inventory file
# (production, staging, testbed, eu-prod, ...), which holds every host.
# base_servers: hosts with no role, which get only what every host gets (a bastion,
# the testbed's --extra hosts).
ROLE_GROUPS = ("db_servers", "cache_servers", "app_servers", "web_servers", "monitoring_servers", "base_servers")
# Our data keys start with a component's name; anything else under these
# prefixes that the schema does not know is a typo.
PREFIXES = ("base_", "mysql_", "redis_", "app_", "nginx_", "influxdb_", "grafana_", "telegraf_", "backup_",
            "tls_")


class Invalid(ValueError):
    pass


# -- checks: each takes a value and raises Invalid with a reason -------------------
def matching(regex, what):
    def check(v):
        if not isinstance(v, str) or not re.fullmatch(regex, v):
            raise Invalid(f"{v!r} is not {what}")
    return check


hostname = matching(r"[A-Za-z0-9][A-Za-z0-9.-]{0,252}", "a host name")
user_name = matching(r"[a-z_][a-z0-9_-]{0,31}", "a Unix user name")
identifier = matching(r"[A-Za-z_][A-Za-z0-9_]{0,31}", "a plain name (letters, digits, _)")
privilege = matching(r"[A-Z]+( [A-Z]+)*", "a privilege name like SELECT or LOCK TABLES")
size = matching(r"[1-9][0-9]*[KMG]", "a size like 256M or 1G")
fingerprint = matching(r"[0-9A-F]{40}", "a key fingerprint (40 upper-case hex digits, no spaces)")
email = matching(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}", "an email address")
redis_size = matching(r"[1-9][0-9]*(kb|mb|gb)", "a Redis size like 512mb or 2gb")


def string(v):
    if not isinstance(v, str) or not v:
        raise Invalid(f"{v!r} is not a non-empty string")


def port(v):
    if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 65535:
        raise Invalid(f"{v!r} is not a TCP port (1-65535)")


def ip_address(v):
    try:
        ipaddress.ip_address(v)
    except ValueError:
        raise Invalid(f"{v!r} is not an IP address") from None


def network(v):
    try:
        ipaddress.ip_network(v, strict=False)
    except ValueError:
        raise Invalid(f"{v!r} is not an address or CIDR network") from None


def timezone(v):
    if v not in zoneinfo.available_timezones():
        raise Invalid(f"{v!r} is not a tz database name (e.g. UTC, Asia/Shanghai)")


# What no URL, address or name in our data ever holds, and what a shell reads as syntax.
SHELL_SYNTAX = re.compile(r"""[\s'"`$\\;&|<>(){}*?!#]""")


def http_url(v):
    u = urlparse(v) if isinstance(v, str) else None
    if not u or u.scheme not in ("http", "https") or not u.hostname:
        raise Invalid(f"{v!r} is not an http(s) URL")
    if SHELL_SYNTAX.search(v):
        raise Invalid(f"{v!r} holds a space, quote or shell character; percent-encode it")


def boolean(v):
    if not isinstance(v, bool):
        raise Invalid(f"{v!r} is not true or false")


def integer(low, high):
    def check(v):
        if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
            raise Invalid(f"{v!r} is not a whole number from {low} to {high}")
    return check


def redis_renames(v):
    if not isinstance(v, dict):
        raise Invalid(f"{v!r} is not a mapping of command -> new name")
    for command, new in v.items():
        if not re.fullmatch(r"[A-Z]+", str(command)) or not re.fullmatch(r"[A-Za-z0-9_]*", str(new)):
            raise Invalid(f"{command!r}: {new!r} is not COMMAND -> new name or \"\"")


def one_of(*choices):
    def check(v):
        if v not in choices:
            raise Invalid(f"{v!r} is not one of {', '.join(map(str, choices))}")
    return check


def optional(check):
    def wrapped(v):
        if v is not None:
            check(v)
    return wrapped


def list_of(check, non_empty=False):
    def wrapped(v):
        if not isinstance(v, list):
            raise Invalid(f"{v!r} is not a list")
        if non_empty and not v:
            raise Invalid("is empty")
        for item in v:
            check(item)
    return wrapped


def firewall_services(v):
    """{group: [{"port": int, "from": "any" | [group, ...]}]}"""
    if not isinstance(v, dict):
        raise Invalid(f"{v!r} is not a mapping of group -> openings")
    for group, openings in v.items():
        if group not in ROLE_GROUPS:
            raise Invalid(f"unknown group {group!r}")
        for o in openings:
            if not isinstance(o, dict) or set(o) != {"port", "from"}:
                raise Invalid(f"{group}: {o!r} must have exactly 'port' and 'from'")
            if isinstance(o["port"], str):
                if not o["port"].endswith("_port") or o["port"] not in SCHEMA:
                    raise Invalid(f"{group}: {o['port']!r} is not a port number or a *_port key")
            else:
                port(o["port"])
            if o["from"] != "any":
                list_of(one_of(*ROLE_GROUPS), non_empty=True)(o["from"])


# key -> check. Every key in group_data/ and the inventories is listed here.
SCHEMA = {
    "private_address": ip_address,
    "ssh_user": user_name,
    "secrets_file": optional(string),
    "base_packages": list_of(string),
    "base_timezone": timezone,
    "base_ntp_servers": list_of(hostname, non_empty=True),
    "base_apt_proxy": optional(http_url),
    "base_login_banner": matching(r"[ -~]{1,300}", "one line of printable ASCII"),
    "base_sshd_port": port,
    "base_sshd_allow_users": list_of(user_name),
    "base_firewall_ssh_from": list_of(network, non_empty=True),
    "base_firewall_services": firewall_services,
    "mysql_role": one_of("primary", "replica"),
    "mysql_port": port,
    "mysql_app_database": identifier,
    "mysql_app_user": identifier,
    "mysql_replication_user": identifier,
    "mysql_backup_user": identifier,
    "mysql_monitoring_user": identifier,
    "mysql_migration_user": identifier,
    "mysql_innodb_buffer_pool_size": optional(size),
    "mysql_innodb_log_file_size": size,
    "mysql_max_connections": integer(10, 100000),
    "mysql_slow_query_log": boolean,
    "mysql_long_query_time": integer(0, 3600),
    "mysql_binlog_expire_days": integer(1, 99),
    "mysql_character_set": identifier,
    "mysql_collation": identifier,
    "mysql_server_id": optional(integer(1, 2**32 - 1)),
    "mysql_app_privileges": list_of(privilege, non_empty=True),
    "mysql_backup_privileges": list_of(privilege, non_empty=True),
    "mysql_migration_privileges": list_of(privilege, non_empty=True),
    "redis_port": port,
    "redis_app_user": user_name,
    "redis_monitoring_user": user_name,
    "redis_replica_user": user_name,
    "redis_admin_user": user_name,
    "tls_cert_days": integer(2, 3650),
    "tls_renew_days": integer(1, 3649),
    "app_name": identifier,
    "app_port": port,
    "app_source": string,
    "app_migrations": string,
    "app_user": user_name,
    "app_root": matching(r"/[A-Za-z0-9_./-]+", "an absolute path"),
    "app_keep_releases": integer(2, 100),
    "app_health_timeout": integer(1, 600),
    "app_migration_lock_wait": integer(1, 3600),
    "app_bake_error_rate_percent": integer(0, 100),
    "app_bake_error_rate_seconds": integer(1, 3600),
    "app_bake_p99_limit": integer(1, 600),
    "app_bake_p99_seconds": integer(1, 3600),
    "nginx_server_name": hostname,
    "nginx_tls_self_signed": boolean,
    "nginx_tls_certificate": optional(string),
    "nginx_tls_key": optional(string),
    "nginx_tls_certbot_email": optional(email),
    "nginx_client_max_body_size": matching(r"[1-9][0-9]*[kmg]?", "an nginx size like 16m"),
    "nginx_proxy_timeout": integer(1, 3600),
    "nginx_static_expires_days": integer(0, 3650),
    "nginx_hsts_max_age": integer(0, 10**9),
    "nginx_upstream_keepalive": integer(1, 10000),
    "nginx_maintenance_flag": matching(r"/[A-Za-z0-9_./-]+", "an absolute path"),
    "nginx_maintenance_retry_after": integer(1, 86400),
    "influxdb_port": port,
    "influxdb_major": one_of(1, 2),
    "influxdb_org": matching(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", "an organisation name"),
    "influxdb_bucket": identifier,
    "influxdb_retention_days": integer(1, 36500),
    "influxdb_admin_user": identifier,
    "influxdb_writer_user": identifier,
    "influxdb_failure_webhook": boolean,
    "influxdb_apt_url": optional(http_url),
    "influxdb_apt_suite": identifier,
    "influxdb_apt_components": list_of(identifier, non_empty=True),
    "influxdb_apt_key_url": optional(http_url),
    "influxdb_apt_key_fingerprint": fingerprint,
    "telegraf_enabled": boolean,
    "telegraf_interval": integer(1, 3600),
    "telegraf_nginx_status_port": port,
    "grafana_port": port,
    "grafana_enabled": boolean,
    "grafana_apt_url": optional(http_url),
    "grafana_apt_suite": identifier,
    "grafana_apt_components": list_of(identifier, non_empty=True),
    "grafana_apt_key_url": optional(http_url),
    "grafana_apt_key_fingerprint": fingerprint,
    "grafana_admin_user": identifier,
    "grafana_alert_channels": list_of(one_of("email", "webhook", "slack")),
    "grafana_alert_emails": list_of(email),
    "grafana_smtp_host": matching(r"[A-Za-z0-9.-]+:[0-9]{1,5}", "host:port"),
    "grafana_alert_error_rate_percent": integer(1, 100),
    "grafana_alert_error_rate_for": integer(0, 86400),
    "grafana_alert_p99_seconds": integer(1, 3600),
    "grafana_alert_p99_for": integer(0, 86400),
    "grafana_alert_cpu_percent": integer(1, 100),
    "grafana_alert_cpu_for": integer(0, 86400),
    "grafana_alert_memory_percent": integer(1, 100),
    "grafana_alert_memory_for": integer(0, 86400),
    "grafana_alert_backup_age_hours": integer(1, 24 * 90),
    "grafana_alert_drill_age_days": integer(1, 365),
    "backup_enabled": boolean,
    "backup_method": one_of("physical", "logical"),
    "backup_source": one_of("replica", "primary"),
    "backup_schedule": matching(r"([01][0-9]|2[0-3]):[0-5][0-9]", "a time of day like 02:00"),
    "backup_local_dir": matching(r"/[A-Za-z0-9_./-]+", "an absolute path"),
    "backup_local_keep_days": integer(1, 3650),
    "backup_s3_endpoint": optional(http_url),
    "backup_s3_bucket": matching(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", "an S3 bucket name"),
    "backup_s3_region": optional(matching(r"[a-z0-9-]{2,32}", "an S3 region name")),
    "backup_s3_keep_days": integer(1, 3650),
    "backup_s3_sse": optional(one_of("AES256", "aws:kms")),
    "backup_binlog_flush_seconds": integer(10, 3600),
    # tasks/restore.py's arguments (--data backup_id=...), never in group data
    "backup_id": matching(r"latest|[0-9]{8}T[0-9]{6}Z", "'latest' or a backup id like 20261125T020000Z"),
    "backup_database": identifier,
    "until": matching(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z", "a UTC time like 2026-11-25T14:30:00Z"),
    # tasks/rollback.py's and tasks/maintenance.py's
    "release": matching(r"[0-9]{14}-[0-9a-f]{12}", "a release id like 20261125202119-2f85ac4142a1"),
    "maintenance": one_of("on", "off"),
    "db": one_of("downgrade"),
    "restore_backup": matching(r"latest|[0-9]{8}T[0-9]{6}Z", "'latest' or a backup id like 20261125T020000Z"),
    "redis_maxmemory": redis_size,
    "redis_maxmemory_policy": one_of("noeviction", "allkeys-lru", "allkeys-lfu", "allkeys-random",
                                     "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl"),
    "redis_save": list_of(list_of(integer(1, 10**9))),
    "redis_appendonly": boolean,
    "redis_rename_commands": redis_renames,
    "redis_replica_of": optional(ip_address),
}
REQUIRED = {
    "all": ("private_address", "base_timezone", "base_ntp_servers", "base_sshd_port",
            "base_firewall_ssh_from", "base_firewall_services", "mysql_port", "mysql_app_database",
            "mysql_app_user", "mysql_replication_user", "mysql_backup_user", "mysql_monitoring_user",
            "mysql_migration_user", "redis_port", "redis_app_user", "redis_monitoring_user", "redis_replica_user",
            "redis_admin_user", "tls_cert_days", "tls_renew_days", "app_name", "app_port", "influxdb_port", "influxdb_bucket", "influxdb_retention_days",
            "influxdb_writer_user", "telegraf_enabled", "grafana_port", "backup_enabled"),
    "monitoring_servers": ("influxdb_major", "influxdb_org", "influxdb_admin_user", "influxdb_failure_webhook",
                           "grafana_enabled"),
    "web_servers": ("nginx_server_name", "nginx_tls_self_signed", "nginx_client_max_body_size",
                    "nginx_proxy_timeout", "nginx_static_expires_days", "nginx_hsts_max_age",
                    "nginx_upstream_keepalive", "nginx_maintenance_flag",
                    "nginx_maintenance_retry_after"),
    "app_servers": ("app_source", "app_migrations", "app_user", "app_root", "app_keep_releases",
                    "app_health_timeout", "app_migration_lock_wait", "app_bake_error_rate_percent",
                    "app_bake_error_rate_seconds", "app_bake_p99_limit", "app_bake_p99_seconds"),
    "cache_servers": ("redis_maxmemory", "redis_maxmemory_policy", "redis_save", "redis_appendonly",
                      "redis_rename_commands"),
    "db_servers": ("mysql_role", "mysql_innodb_log_file_size", "mysql_max_connections",
                   "mysql_long_query_time", "mysql_binlog_expire_days", "mysql_character_set",
                   "mysql_collation", "mysql_app_privileges", "mysql_backup_privileges",
                   "mysql_migration_privileges"),
}


def environment_of(host) -> str:
    """The group pyinfra names after the inventory file: the one group of a host that is not a role."""
    return next((g for g in host.groups if g not in ROLE_GROUPS and g != "all"), "unknown")


def environments(hosts: dict[str, tuple[set[str], dict]]) -> set[str]:
    """The groups of every host that are not roles: the inventory file's own."""
    every = set.intersection(*(groups for groups, _ in hosts.values())) if hosts else set()
    return every - set(ROLE_GROUPS) - {"all"}


def host_problems(name: str, groups: set[str], data: dict, known=frozenset()) -> list[str]:
    """``known``: the environment groups, besides the roles."""
    out = []
    for group in sorted(groups - set(ROLE_GROUPS) - set(known) - {"all"}):
        out.append(f"{name}: unknown group {group!r} (known: {', '.join(ROLE_GROUPS)})")
    for group in ("all", *sorted(groups)):
        for key in REQUIRED.get(group, ()):
            if data.get(key) is None:
                out.append(f"{name}: {key} is required" + (f" for {group}" if group != "all" else ""))
    if data.get("ssh_password"):
        out.append(f"{name}: ssh_password is set, but tasks/base.py turns SSH password login off; "
                   "connect with a key (ssh_key or your agent) so the deploy cannot lock itself out")
    if "web_servers" in groups and not (data.get("nginx_tls_self_signed") or data.get("nginx_tls_certbot_email")
                                        or (data.get("nginx_tls_certificate") and data.get("nginx_tls_key"))):
        out.append(f"{name}: nginx needs a certificate: nginx_tls_certificate and nginx_tls_key, "
                   "nginx_tls_certbot_email, or nginx_tls_self_signed")
    if isinstance(data.get("tls_renew_days"), int) and isinstance(data.get("tls_cert_days"), int) \
            and data["tls_renew_days"] >= data["tls_cert_days"]:
        out.append(f"{name}: tls_renew_days ({data['tls_renew_days']}) must be less than tls_cert_days "
                   f"({data['tls_cert_days']}), or every run would issue a new certificate")
    out += vendor_problems(name, groups, data)
    if "monitoring_servers" in groups and data.get("grafana_enabled"):
        channels = data.get("grafana_alert_channels") or []
        if not channels:
            out.append(f"{name}: grafana_alert_channels is empty: alerts would go nowhere")
        if "email" in channels and not data.get("grafana_alert_emails"):
            out.append(f"{name}: grafana_alert_channels has 'email' but grafana_alert_emails is empty")
    for key, value in sorted(data.items()):
        if key in SCHEMA:
            if value is None and key in {k for ks in REQUIRED.values() for k in ks}:
                continue  # already reported as missing
            try:
                SCHEMA[key](value)
            except Invalid as e:
                out.append(f"{name}: {key}: {e}")
        elif key.startswith(PREFIXES):
            out.append(f"{name}: unknown key {key!r} (a typo?)")
    return out


def vendor_problems(name: str, groups: set[str], data: dict) -> list[str]:
    """A vendor repository must be named where a component needs it: a clear
    error now rather than a failed download half-way through the run."""
    needs = {"influxdb": (data.get("telegraf_enabled") and "Telegraf")
             or ("monitoring_servers" in groups and data.get("influxdb_major") == 2 and "InfluxDB 2.x"),
             "grafana": "monitoring_servers" in groups and data.get("grafana_enabled") and "Grafana"}
    return [f"{name}: {what} is enabled, so {prefix}_apt_url and {prefix}_apt_key_url are required: the vendor's "
            "apt repository and signing key (see its install docs), or your mirror of them"
            for prefix, what in needs.items() if what and not (data.get(f"{prefix}_apt_url")
                                                              and data.get(f"{prefix}_apt_key_url"))]


def file_problems(name: str, groups: set[str], data: dict) -> list[str]:
    """Files on the controller that a deploy reads: missing ones now, not as a
    traceback half-way through the run."""
    wanted = []  # (key, what it must be, its name)
    if "web_servers" in groups and not (data.get("nginx_tls_self_signed") or data.get("nginx_tls_certbot_email")):
        wanted += [("nginx_tls_certificate", Path.is_file, "a file"), ("nginx_tls_key", Path.is_file, "a file")]
    if "app_servers" in groups:
        wanted += [("app_source", Path.is_dir, "a directory"), ("app_migrations", Path.is_dir, "a directory")]
    return [f"{name}: {key}: {data[key]} is not {kind} on this machine (paths are read on the controller, "
            "relative to the repository)"
            for key, is_kind, kind in wanted
            if isinstance(data.get(key), str) and data[key] and not is_kind(Path(data[key]))]


def topology_problems(hosts: dict[str, tuple[set[str], dict]]) -> list[str]:
    out = []
    members = {g: [n for n, (groups, _) in hosts.items() if g in groups] for g in ROLE_GROUPS}
    primaries = [n for n in members["db_servers"] if hosts[n][1].get("mysql_role") == "primary"]
    if members["db_servers"] and len(primaries) != 1:
        out.append(f"topology: db_servers need exactly one mysql_role='primary', found {primaries or 'none'}")
    if members["web_servers"] and not members["app_servers"]:
        out.append("topology: web_servers are present but app_servers is empty (nothing to proxy to)")
    seen: dict[str, str] = {}
    for n, (_, data) in hosts.items():
        addr = data.get("private_address")
        if addr in seen:
            out.append(f"topology: {n} and {seen[addr]} share private_address {addr}")
        seen.setdefault(addr, n)
    return out


def secret_problems(name: str, groups: set[str], data: dict) -> list[str]:
    needed = secrets.required_for(groups, data)
    try:
        missing = secrets.missing(needed, data.get("secrets_file"))
    except secrets.SecretError as e:
        return [f"{name}: {e}"]
    if missing:
        return [f"{name}: {m}" for m in missing]
    ca = {n: secrets.lookup(n, data.get("secrets_file")) if n in needed else None for n in ("tls_ca_key", "tls_ca_cert")}
    return [f"{name}: {m}" for m in tls.ca_problems(ca["tls_ca_key"], ca["tls_ca_cert"], data.get("tls_renew_days") or 0)]


def problems(hosts: dict[str, tuple[set[str], dict]], check_secrets_for=None) -> list[str]:
    """hosts: name -> (groups, merged data). Secrets and the controller's files are
    checked for the hosts in ``check_secrets_for`` (default: all), i.e. the ones
    this run will touch."""
    out = []
    known = environments(hosts)
    for name, (groups, data) in hosts.items():
        out += host_problems(name, groups, data, known)
        if check_secrets_for is None or name in check_secrets_for:
            out += secret_problems(name, groups, data) + file_problems(name, groups, data)
    out += topology_problems(hosts)
    return list(dict.fromkeys(out))  # a shared secrets-file error once per host is enough
