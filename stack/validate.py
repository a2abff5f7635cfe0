"""Check every host's merged data before any host is contacted.

``problems(hosts)`` returns one line per problem across the whole inventory:
bad types and ranges, missing required keys, unknown keys (typos) under our
prefixes, unknown groups, an inconsistent topology and missing secrets.
``stack.preflight`` runs it from pyinfra's config.py. Each key's own check and the
groups that require it are in ``stack.keys``' table; the rules across keys and hosts are here.
"""

from __future__ import annotations

from pathlib import Path

from stack import grafana, secrets, tls
from stack.checks import Invalid
from stack.keys import COMPONENTS, KEYS, ROLE_GROUPS

# Anything under a component's prefix that the table of keys does not know is a typo.
PREFIXES = tuple(f"{c}_" for c in COMPONENTS)


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
        for key in (k for k, spec in KEYS.items() if group in spec.required_in):
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
    pause, stop = data.get("app_migration_online_max_load"), data.get("app_migration_online_critical_load")
    if isinstance(pause, int) and isinstance(stop, int) and pause >= stop:
        out.append(f"{name}: app_migration_online_max_load ({pause}) must be less than "
                   f"app_migration_online_critical_load ({stop}), or an online change stops before it ever pauses")
    out += vendor_problems(name, groups, data)
    for key, value in sorted(data.items()):
        if key in KEYS:
            if (value is None and KEYS[key].required_in) or KEYS[key].check is None:
                continue  # already reported as missing, or pyinfra's own
            try:
                KEYS[key].check(value)
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
    if grafana_here(groups, data) and not set(alert_channels(data)) & set(grafana.ROUTES["warning"]):
        return [f"{name}: no alert channel is on, so warnings and errors would reach nobody: set "
                f"grafana_alert_emails, or give the alert_slack_url or alert_webhook_url secret"]
    ca = {n: secrets.lookup(n, data.get("secrets_file")) if n in needed else None for n in ("tls_ca_key", "tls_ca_cert")}
    return [f"{name}: {m}" for m in tls.ca_problems(ca["tls_ca_key"], ca["tls_ca_cert"], data.get("tls_renew_days") or 0)]


def grafana_here(groups, data) -> bool:
    return "monitoring_servers" in groups and bool(data.get("grafana_enabled"))


def alert_channels(data: dict) -> dict[str, dict]:
    return grafana.channels(data.get("grafana_alert_emails") or [],
                            lambda secret: secrets.lookup(secret, data.get("secrets_file")))


def notes(hosts: dict[str, tuple[set[str], dict]], check_secrets_for=None) -> list[str]:
    """What a run should say but not refuse: the alert channels left off."""
    out = []
    for name, (groups, data) in hosts.items():
        if grafana_here(groups, data) and (check_secrets_for is None or name in check_secrets_for):
            on = alert_channels(data)
            out += [f"{name}: alert channel {kind} is off until the {secret} secret is given "
                    f"({secrets.env_var(secret)})" for kind, secret in grafana.CHANNEL_SECRETS.items() if kind not in on]
            if "email" not in on:
                out.append(f"{name}: alert channel email is off until grafana_alert_emails has an address")
    return out


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
