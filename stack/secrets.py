"""Secrets: never in the repository, never on a command line, never in output.

A secret named ``mysql_app_password`` is read from, in order:

1. the environment variable ``STACK_MYSQL_APP_PASSWORD``;
2. a YAML file outside the repository: the path in ``STACK_SECRETS_FILE``, or
   else the host's ``secrets_file`` data (the testbed inventory sets that to
   the file the testbed generated).

The file must be owned by the user running the deploy and unreadable by others.
Which secrets a host needs follows from its groups (``SECRETS`` below); all of
them are checked before any host is contacted (see ``stack.preflight``).
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import yaml

# name -> (groups whose hosts need it, what it is)
SECRETS: dict[str, tuple[tuple[str, ...], str]] = {
    "mysql_root_password": (("db_servers",), "MySQL/MariaDB root account"),
    "mysql_app_password": (("db_servers", "app_servers"), "the application's database user (DML only)"),
    "mysql_migration_password": (("db_servers", "app_servers"), "the migration user (DDL on the app's database)"),
    "mysql_replication_password": (("db_servers",), "the replication user"),
    "mysql_backup_password": (("db_servers",), "the backup user (consistent dumps)"),
    "mysql_monitoring_password": (("db_servers", "monitoring_servers"), "the monitoring user"),
    "redis_password": (("cache_servers",), "Redis admin user (ops)"),
    "redis_app_password": (("cache_servers", "app_servers"), "Redis user of the app"),
    "redis_monitoring_password": (("cache_servers",), "Redis user of the monitoring (INFO, PING)"),
    "redis_replica_password": (("cache_servers",), "Redis user a replica presents to its primary"),
    "tls_ca_key": (("db_servers", "cache_servers", "monitoring_servers"), "the internal CA's private key (PEM)"),
    "tls_ca_cert": (("all",), "the internal CA's certificate (PEM)"),
    "grafana_admin_password": (("monitoring_servers",), "Grafana's admin user"),
    "grafana_secret_key": (("monitoring_servers",), "Grafana's key for the secrets it stores"),
    "influxdb_token": (("monitoring_servers",), "InfluxDB operator token (2.x) / admin password (1.x)"),
    "influxdb_writer_password": (("all",), "InfluxDB write-only user (Telegraf, ops flows)"),
    "alert_webhook_url": (("monitoring_servers",), "webhook that failed ops flows and Grafana alerts post to"),
    "alert_slack_url": (("monitoring_servers",), "Slack incoming-webhook URL for Grafana alerts (optional: turns Slack on)"),
    "alert_pagerduty_key": (("monitoring_servers",), "PagerDuty Events API v2 integration key for critical alerts "
                            "(optional: turns PagerDuty on)"),
    "s3_access_key_id": (("all",), "S3 access key for backups and the weekly log archives"),
    "s3_secret_access_key": (("all",), "S3 secret key for backups and the weekly log archives"),
    "backup_age_recipient": (("all",), "age public key backups are encrypted to (the identity stays offline)"),
}
# Secrets only some data needs: name -> whether this host's data needs it.
WHEN = {
    "grafana_admin_password": lambda d: d.get("grafana_enabled", True),
    "grafana_secret_key": lambda d: d.get("grafana_enabled", True),
    "influxdb_writer_password": lambda d: "monitoring_servers" in d["_groups"] or d.get("telegraf_enabled", True) or (
        "db_servers" in d["_groups"] and bool(d.get("backup_enabled"))),  # backup points from the db hosts
    # Grafana's channels are on once their secret is given (stack/grafana.py CHANNEL_SECRETS):
    # required only where a flow posts to the webhook.
    "alert_webhook_url": lambda d: bool(d.get("influxdb_failure_webhook")),
    "alert_slack_url": lambda d: False,
    "alert_pagerduty_key": lambda d: False,
    "s3_access_key_id": lambda d: bool(d.get("backup_enabled")),
    "s3_secret_access_key": lambda d: bool(d.get("backup_enabled")),
    "backup_age_recipient": lambda d: bool(d.get("backup_enabled")),
}


class SecretError(Exception):
    pass


def env_var(name: str) -> str:
    return "STACK_" + name.upper()


def required_for(groups, data: dict | None = None) -> list[str]:
    """The secrets a host in these groups, with this data, needs."""
    groups, data = set(groups) | {"all"}, {**(data or {}), "_groups": set(groups)}
    return [name for name, (needed_by, _) in SECRETS.items()
            if groups & set(needed_by) and WHEN.get(name, lambda d: True)(data)]


def secrets_file_path(host_data_file: str | None) -> Path | None:
    path = os.environ.get("STACK_SECRETS_FILE") or host_data_file
    return Path(path) if path else None


_file_cache: dict[Path, dict] = {}


def read_secrets_file(path: Path) -> dict:
    """The file's secrets, after checking nobody else can read them."""
    if path in _file_cache:
        return _file_cache[path]
    try:
        st = path.stat()
    except FileNotFoundError:
        raise SecretError(f"secrets file {path} does not exist") from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise SecretError(f"secrets file {path} is readable by others (mode {oct(st.st_mode & 0o777)}); chmod 600 it")
    if st.st_uid != os.geteuid():
        raise SecretError(f"secrets file {path} is not owned by the user running the deploy")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise SecretError(f"secrets file {path} must be a mapping of name: value")
    unknown = sorted(set(data) - set(SECRETS))
    if unknown:
        raise SecretError(f"secrets file {path} has unknown names {unknown}; known: {sorted(SECRETS)}")
    _file_cache[path] = {k: str(v) for k, v in data.items() if v not in (None, "")}
    return _file_cache[path]


def missing(names, host_data_file: str | None = None) -> list[str]:
    """One message per secret that can't be found; raises on an unusable file."""
    path = secrets_file_path(host_data_file)
    from_file = read_secrets_file(path) if path else {}
    where = f"add it to {path}" if path else "set STACK_SECRETS_FILE to a secrets file that has it"
    return [
        f"missing secret {name} ({SECRETS[name][1]}): set {env_var(name)}, or {where}"
        for name in names
        if not os.environ.get(env_var(name)) and name not in from_file
    ]


def lookup(name: str, host_data_file: str | None = None) -> str | None:
    """A secret's value, or None: the environment first, then the secrets file."""
    value = os.environ.get(env_var(name))
    if value:
        return value
    path = secrets_file_path(host_data_file)
    return read_secrets_file(path).get(name) if path else None


def get(name: str, host=None) -> str:
    """A secret's value for use in a deploy. ``host`` defaults to pyinfra's current host."""
    if host is None:
        from pyinfra import host
    value = lookup(name, host.data.get("secrets_file"))
    if not value:
        raise SecretError(missing([name], host.data.get("secrets_file"))[0])
    return value


def known_values(host) -> list[str]:
    """Every secret this controller knows for ``host`` (the environment and the secrets
    file), its sha256 (Redis's ACL holds that), and each line of a many-line one: what
    stack/diffs.py hides wherever it appears."""
    path = secrets_file_path(host.data.get("secrets_file"))
    from_file = read_secrets_file(path) if path else {}
    # both sources: a value set in the environment replaces the file's, which a host may still hold
    values = [v for name in SECRETS for v in (os.environ.get(env_var(name)), from_file.get(name)) if v]
    out = set(values) | {hashlib.sha256(v.encode()).hexdigest() for v in values}  # Redis's ACL holds the sha256
    out |= {line.strip() for v in values if "\n" in v for line in v.splitlines() if len(line.strip()) >= 8}
    return sorted(out, key=len, reverse=True)

