"""Monitoring: InfluxDB and Grafana (seed 000: InfluxDB 2.7, 90-day metrics
retention, a datasource and two dashboards; seed 004: the alert thresholds)."""

# -- InfluxDB ---------------------------------------------------------------------
# InfluxDB major version (1 or 2): 2 from InfluxData's repository; 1 is the
# distribution's package (what the testbed runs: the vendor repository is unreachable).
influxdb_major = 2
# Organisation (name; 2.x only).
influxdb_org = "easy-erp"
# Admin/operator user (name); its password (1.x) or token (2.x) is the influxdb_token secret.
influxdb_admin_user = "admin"
# Post every failed ops point (success=0) to the alert_webhook_url secret (true/false).
influxdb_failure_webhook = False
# With the above on, post every successful flow's point too (a notice of success, seeds 000/002) (true/false).
influxdb_success_webhook = True

# -- Grafana ----------------------------------------------------------------------
# Install Grafana (true/false); its package comes from Grafana's repository.
grafana_enabled = True
# Repository URL, from Grafana's install docs or your mirror of it; required
# when grafana_enabled (no default, like influxdb_apt_url).
grafana_apt_url = None
# Suite (name).
grafana_apt_suite = "stable"
# Components (names).
grafana_apt_components = ["main"]
# URL of Grafana's ASCII-armoured signing key; required with grafana_apt_url.
grafana_apt_key_url = None
# Fingerprint the signing key must have (40 hex digits): Grafana's key since 2023-08.
grafana_apt_key_fingerprint = "B53AE77BADB630A683046005963FA27710458545"
# Grafana's admin user (name); password: the grafana_admin_password secret.
grafana_admin_user = "admin"

# -- Grafana alerting (seed 004 thresholds and levels) ---------------------------------
# Alert channels are on once given: email here, Slack, PagerDuty and the webhook by their
# secrets (alert_slack_url, alert_pagerduty_key, alert_webhook_url); preflight names those off.
# Addresses the email channel sends to (Grafana's [smtp] must be able to send); [] = off.
grafana_alert_emails = []
# SMTP relay Grafana sends alert mail through (host:port), with "email".
grafana_smtp_host = "localhost:25"
# Error rate (5xx share of requests at nginx) that alerts (percent) ...
grafana_alert_error_rate_percent = 5
# ... when it lasts this long (seconds).
grafana_alert_error_rate_for = 60
# P99 response time at nginx that alerts (seconds) ...
grafana_alert_p99_seconds = 5
# ... when it lasts this long (seconds).
grafana_alert_p99_for = 120
# CPU use on any host that alerts (percent) ...
grafana_alert_cpu_percent = 80
# ... when it lasts this long (seconds).
grafana_alert_cpu_for = 300
# Memory use on any host that alerts (percent) ...
grafana_alert_memory_percent = 85
# ... when it lasts this long (seconds).
grafana_alert_memory_for = 300
# Share of 401/403 answers at nginx that alerts (percent; Grafana's login, any authenticated route) ...
grafana_alert_auth_failure_percent = 10
# ... when it lasts this long (seconds).
grafana_alert_auth_failure_for = 30
# Share of failed reads (GETs under /sales answering 5xx, or the summary served without its cache) that alerts (percent) ...
grafana_alert_fetch_failure_percent = 20
# ... when it lasts this long (seconds).
grafana_alert_fetch_failure_for = 180
# Where docs/runbook.md is served (URL); each alert links its entry there. None: the alert names the file.
grafana_runbook_url = None
# With backup_enabled: alert when no backup succeeded for this long (hours; daily backups + slack) ...
grafana_alert_backup_age_hours = 26
# ... and when no restore drill succeeded for this long (days; the drill is weekly).
grafana_alert_drill_age_days = 8
