"""Defaults for every host. Override per group in group_data/<group>.py, per host
in the inventory; group_data/<environment>.py overrides everything, so keep it
for real per-environment differences. Each key's check is in stack/keys.py;
every key is listed in docs/keys.md (python -m stack.keys > docs/keys.md)."""

# -- base: packages, time, apt -------------------------------------------------
# Packages every host gets (Debian names).
base_packages = ["ca-certificates", "curl", "less", "netbase", "nftables", "procps", "systemd-timesyncd", "tzdata"]
# System timezone (canonical tz database name: Etc/UTC, not the UTC alias, which
# reads back as Etc/UTC and would show a change on every run).
base_timezone = "Etc/UTC"
# NTP servers for systemd-timesyncd (host names), tried in order.
base_ntp_servers = ["0.debian.pool.ntp.org", "1.debian.pool.ntp.org", "2.debian.pool.ntp.org"]
# HTTP proxy apt uses (URL), or None to connect directly.
base_apt_proxy = None
# Text of the login banners /etc/issue and /etc/issue.net (one line).
base_login_banner = ("Authorized access only. This system is monitored and all activity is logged; "
                     "unauthorized use is prohibited and may be reported to law enforcement.")

# -- internal TLS (tasks/tls.py; the CA is the tls_ca_key and tls_ca_cert secrets) --
# How long a host certificate from the internal CA is valid (days).
tls_cert_days = 365
# A host certificate that expires sooner than this is issued again by the next run (days).
tls_renew_days = 30

# -- connection: the same in every environment, the testbed included -----------
# SSH user the deploy connects as (Unix user with key-only login and passwordless sudo).
ssh_user = "deploy"
# Become root through sudo for every operation (bool).
_sudo = True

# -- base: sshd ----------------------------------------------------------------
# Port sshd listens on (TCP port). Always open in the firewall.
base_sshd_port = 22
# Users who may log in over SSH besides the deploy's ssh_user (Unix user names).
# AllowUsers is always set: nobody else, root included, gets in.
base_sshd_allow_users = []

# -- base: firewall (nftables; input policy drop) ------------------------------
# Who may reach sshd (CIDR networks): no default, each environment names its own
# (group_data/<environment>.py), so the whole internet is never let in silently.
base_firewall_ssh_from = None
# Ports each role opens (TCP), and to whom: "any", or the role groups whose
# hosts' private_address may connect. A host opens the ports of all its groups.
# A port is a number, or the name of the data key that holds it.
base_firewall_services = {
    "web_servers": [{"port": 80, "from": "any"}, {"port": 443, "from": "any"}],
    "app_servers": [{"port": "app_port", "from": ["web_servers"]}],
    "db_servers": [{"port": "mysql_port", "from": ["app_servers", "db_servers"]}],
    "cache_servers": [{"port": "redis_port", "from": ["app_servers"]}],
    "monitoring_servers": [{"port": "influxdb_port",
                            "from": ["db_servers", "cache_servers", "app_servers", "web_servers",
                                     "monitoring_servers"]},
                           {"port": "grafana_port", "from": ["web_servers"]}],
}

# -- MariaDB: what clients need to know (server tuning: db_servers.py) ----------
# TCP port the server listens on.
mysql_port = 3306
# The application's database (name).
mysql_app_database = "sales"
# The application's database user (name): DML only; may connect from app_servers only.
mysql_app_user = "sales"
# The migration user (name): DDL on the app's database, from app_servers; only the
# migration step (stack-app migrate) connects as it.
mysql_migration_user = "sales_migrate"
# Replication user (name); may connect from db_servers only.
mysql_replication_user = "repl"
# Backup user (name): consistent dumps, from localhost and db_servers.
mysql_backup_user = "backup"
# Monitoring user (name): status only, from localhost (Telegraf on the db host).
mysql_monitoring_user = "monitor"

# -- Redis: what clients need to know (server settings: cache_servers.py) ------
# TCP port Redis listens on: TLS only, the plaintext port is off.
redis_port = 6379
# ACL users (names); the default user is off. The app's: keys and data commands only.
redis_app_user = "sales"
# Telegraf's: INFO and PING only.
redis_monitoring_user = "monitor"
# What a replica authenticates to its primary as: replication only.
redis_replica_user = "replica"
# Ops' own: every command (password: the redis_password secret).
redis_admin_user = "admin"

# -- app: what nginx needs to know (the rest: app_servers.py) -------------------
# The app's name: systemd units <name>.service/.socket, nginx upstream (plain name).
app_name = "sales"
# TCP port gunicorn's socket listens on, on the app hosts' private address.
app_port = 8000

# -- InfluxDB: what writers need to know (the rest: monitoring_servers.py) ----
# TCP port of InfluxDB's HTTP API on the monitoring hosts' private address.
influxdb_port = 8086
# Bucket (2.x) or database (1.x) the metrics go to (name).
influxdb_bucket = "metrics"
# How long metrics are kept (days); also names the retention policy, "<days>d".
influxdb_retention_days = 90
# User Telegraf and the ops flows write with: write-only (name); password: the
# influxdb_writer_password secret.
influxdb_writer_user = "ops_writer"

# -- InfluxData's signed apt repository (InfluxDB 2.x and Telegraf) --------------
# Repository URL, from InfluxData's install docs or your mirror of it; required
# where InfluxDB 2.x or Telegraf is installed (no default: nothing is fetched
# from a place this repository chose for you).
influxdb_apt_url = None
# Suite (name).
influxdb_apt_suite = "stable"
# Components (names).
influxdb_apt_components = ["main"]
# URL of InfluxData's ASCII-armoured signing key; required with influxdb_apt_url.
influxdb_apt_key_url = None
# Fingerprint the signing key must have (40 hex digits), pinned for apt too:
# InfluxData's archive key, the one its install docs verify.
influxdb_apt_key_fingerprint = "AC10D7449F343ADCEFDDC2B6DA61C26A0585BD3B"

# -- Backups (the rest: db_servers.py) -----------------------------------------------
# Back up the databases (bool): stack-backup, its timer and S3 on the db hosts,
# the backup and drill alerts in Grafana, and every host's weekly log archive. Needs the s3_* secrets and
# backup_age_recipient.
backup_enabled = False
# Where backups and the weekly log archives go (tasks/logs.py, every host):
# S3 endpoint (URL) of any S3-compatible store; None: AWS's own.
backup_s3_endpoint = None
# Bucket (S3 bucket name); created if missing, with versioning where the store allows.
backup_s3_bucket = "stack-backups"
# S3 region (name); None: us-east-1.
backup_s3_region = None
# Server-side encryption asked of S3 (None, "AES256" or "aws:kms"), on top of age's.
backup_s3_sse = None

# -- Telegraf: metrics from every host into InfluxDB -----------------------------
# Install and run Telegraf on every host (its package comes from InfluxData's repository).
telegraf_enabled = True
# How often inputs are read and how often points are sent (seconds).
telegraf_interval = 10
# Local port nginx serves stub_status on, for Telegraf (TCP port, 127.0.0.1 only).
telegraf_nginx_status_port = 8081

# -- Grafana: what nginx needs to know (the rest: monitoring_servers.py) -----------
# TCP port Grafana listens on, on the monitoring hosts' private address; nginx
# serves it under /grafana/.
grafana_port = 3000

# -- Logs (tasks/logs.py, every host: seed 001) ----------------------------------------
# Days of logs kept on a host: the journal, and nginx's and MariaDB's daily rotations (days).
logs_keep_days = 14
# Most disk the journal may take (size like 1G).
logs_journal_max_use = "1G"
# With backup_enabled, when the week's logs go to S3, encrypted (systemd OnCalendar; seed 001: Sunday 03:00).
logs_archive_schedule = "Sun *-*-* 03:00:00"
# Days a weekly log archive is kept in S3 (days).
logs_s3_keep_days = 365

# -- Vulnerability scan (tasks/scan.py, weekly on staging: seeds 000 and 002) ---------
# Security updates a host may have pending before the scan fails (count; unattended-upgrades
# takes them daily, so any is a day late at least).
scan_security_updates_max = 0
# Lynis's hardening index below which the scan fails (0-100).
scan_lynis_min_index = 60

# -- secrets -------------------------------------------------------------------
# YAML secrets file on the controller (path), used when STACK_SECRETS_FILE is
# unset; None: secrets come from STACK_* environment variables. See stack/secrets.py.
secrets_file = None
# The age identity that decrypts backups, on the controller (path), for restores and the
# drill when STACK_BACKUP_AGE_IDENTITY_FILE is unset. None: it stays offline until needed.
backup_age_identity_file = None
