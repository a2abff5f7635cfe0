"""Grafana's dashboards and alert rules, built from one table.

Every panel and alert names the measurement and field it reads (a ``Series``);
the query text is generated from that in InfluxQL (InfluxDB 1.x) or Flux (2.x),
so both dashboards exist in both languages with nothing copied by hand. The
tests check every Series against what Telegraf's config and the ops flows
(stack_influx.MEASUREMENTS) really write.

    dashboards(major, bucket, retention_policy) -> {file name: dashboard JSON}
    alert_rules(major, bucket, retention_policy, data) -> provisioning dict
    contact_points(data, channels) -> which channels hear each severity
"""

from __future__ import annotations

from dataclasses import dataclass

DATASOURCE_UID = "stack-influxdb"
FOLDER = "stack"


@dataclass(frozen=True)
class Series:
    measurement: str
    field: str
    agg: str = "mean"  # mean | max | last | sum | p99 | per_minute (counter increase per minute)
    where: tuple[tuple[str, str], ...] = ()  # (tag, value) filters
    by: str | None = "host"  # one line per value of this tag; None: one line
    minus_from_100: bool = False  # usage from an idle percentage
    times_100: bool = False  # a 0/1 field as a percentage

    def influxql(self, rp: str, window: str | None = "$__interval") -> str:
        f = f'"{self.field}"'
        agg = {"p99": f"percentile({f}, 99)", "per_minute": f"non_negative_derivative(max({f}), 1m)"}.get(
            self.agg, f"{self.agg}({f})")
        expr = f"100 - {agg}" if self.minus_from_100 else f"{agg} * 100" if self.times_100 else agg
        where = "".join(f"\"{tag}\" = '{value}' AND " for tag, value in self.where)
        group = [f"time({window})"] if window else []
        group += [f'"{self.by}"'] if self.by else []
        tail = f" GROUP BY {', '.join(group)}" if group else ""
        if window:
            tail += " fill(null)"
        return f'SELECT {expr} FROM "{rp}"."{self.measurement}" WHERE {where}$timeFilter{tail}'

    def flux(self, bucket: str, window: str | None = "v.windowPeriod") -> str:
        cond = " and ".join([f'r._measurement == "{self.measurement}"', f'r._field == "{self.field}"',
                             *(f'r["{tag}"] == "{value}"' for tag, value in self.where)])
        lines = [f'from(bucket: "{bucket}")', "|> range(start: v.timeRangeStart, stop: v.timeRangeStop)",
                 f"|> filter(fn: (r) => {cond})"]
        lines.append(f'|> group(columns: ["{self.by}"])' if self.by else "|> group()")
        fn = {"p99": "(column, tables=<-) => tables |> quantile(q: 0.99, column: column)",
              "per_minute": "max"}.get(self.agg, self.agg)
        if window:
            lines.append(f"|> aggregateWindow(every: {window}, fn: {fn}, createEmpty: false)")
        else:  # one value for the whole range (alerts)
            lines.append("|> quantile(q: 0.99)" if self.agg == "p99" else f"|> {self.agg}()")
        if self.agg == "per_minute":
            lines.append("|> derivative(unit: 1m, nonNegative: true)")
        if self.minus_from_100:
            lines.append("|> map(fn: (r) => ({r with _value: 100.0 - float(v: r._value)}))")
        if self.times_100:
            lines.append("|> map(fn: (r) => ({r with _value: float(v: r._value) * 100.0}))")
        return "\n  ".join(lines)


@dataclass(frozen=True)
class Panel:
    title: str
    series: Series
    unit: str  # Grafana unit id
    kind: str = "timeseries"  # timeseries | stat


CPU = Series("cpu", "usage_idle", where=(("cpu", "cpu-total"),), minus_from_100=True)
MEMORY = Series("mem", "used_percent")
ERRORS = Series("nginx_access", "error", by=None, times_100=True)
P99 = Series("nginx_access", "request_time", agg="p99", by=None)

# seed 000: "database monitoring" (connections, query time, migration status,
# backup status) and "application performance" (response time, error rate,
# memory, CPU). Every panel reads something a flow or Telegraf really writes.
DASHBOARDS = {
    "database-monitoring": ("Database monitoring", [
        Panel("Connections (threads connected)", Series("mysql", "threads_connected", agg="max"), "short"),
        Panel("Queries per minute", Series("mysql", "queries", agg="per_minute"), "short"),
        Panel("Query time: slow queries per minute (over mysql_long_query_time)",
              Series("mysql", "slow_queries", agg="per_minute"), "short"),
        Panel("Migrations: success (1) or failure (0)", Series("migration", "success", agg="last", by="release"),
              "short", "stat"),
        Panel("Backups: success (1) or failure (0)", Series("backup", "success", agg="last"), "short", "stat"),
        Panel("Restore drills: RTO", Series("restore", "duration_s", agg="last", where=(("kind", "drill"),)), "s", "stat"),
    ]),
    "application-performance": ("Application performance", [
        Panel("Response time at nginx (mean)", Series("nginx_access", "request_time", by=None), "s"),
        Panel("Response time at nginx (P99)", P99, "s"),
        Panel("Error rate (5xx share of requests)", ERRORS, "percent"),
        Panel("Requests per minute (nginx)", Series("nginx", "requests", agg="per_minute"), "short"),
        Panel("Memory used", MEMORY, "percent"),
        Panel("CPU used", CPU, "percent"),
        Panel("Deployments: success (1) or failure (0)",
              Series("deployment", "success", agg="last", by="release"), "short", "stat"),
    ]),
}


def query_model(series: Series, major: int, bucket: str, rp: str, ref: str, windowed: bool) -> dict:
    """A query over time windows (panels) or one value over the range (alerts)."""
    if major == 2:
        return {"refId": ref, "query": series.flux(bucket, "v.windowPeriod" if windowed else None)}
    return {"refId": ref, "query": series.influxql(rp, "$__interval" if windowed else None), "rawQuery": True,
            "resultFormat": "time_series"}


def dashboard(uid: str, major: int, bucket: str, rp: str) -> dict:
    title, panels = DASHBOARDS[uid]
    out = []
    for i, p in enumerate(panels):
        out.append({
            "id": i + 1, "type": p.kind, "title": p.title,
            "gridPos": {"h": 8, "w": 12, "x": 12 * (i % 2), "y": 8 * (i // 2)},
            "datasource": {"type": "influxdb", "uid": DATASOURCE_UID},
            "fieldConfig": {"defaults": {"unit": p.unit}, "overrides": []},
            "targets": [{**query_model(p.series, major, bucket, rp, "A", windowed=True),
                         "datasource": {"type": "influxdb", "uid": DATASOURCE_UID}}],
        })
    return {"uid": uid, "title": title, "tags": ["stack"], "timezone": "browser", "schemaVersion": 39,
            "editable": False, "refresh": "1m", "time": {"from": "now-6h", "to": "now"}, "panels": out}


def dashboards(major: int, bucket: str, rp: str) -> dict[str, dict]:
    return {f"{uid}.json": dashboard(uid, major, bucket, rp) for uid in DASHBOARDS}


# seed 004's alert levels: a warning is recorded and expected to recover by itself
# within 5 minutes; an error tells the dev team at once (answer within 15 minutes);
# critical tells everyone and starts the emergency response.
SEVERITY = {1: "warning", 2: "error", 3: "critical"}
# seed 004's channels per severity; a channel is on once its secret (or address) is given.
ROUTES = {"warning": ("slack", "email", "webhook"), "error": ("slack", "email", "webhook"),
          "critical": ("slack", "email", "pagerduty", "webhook")}
# When a severity's notice goes out and how often it repeats while firing. A warning
# waits 5 minutes, so one that recovers by itself is only recorded.
TIMING = {"warning": ("5m", "4h"), "error": ("30s", "15m"), "critical": ("10s", "15m")}

AUTH_FAILURES = Series("nginx_access", "auth_failure", by=None, times_100=True)
FETCH_FAILURES = Series("nginx_access", "fetch_failure", where=(("kind", "read"),), by=None, times_100=True)


@dataclass(frozen=True)
class Alert:
    uid: str  # also its runbook entry's anchor (docs/runbook.md)
    title: str
    series: Series
    op: str  # gt | lt
    threshold: float
    window: int  # seconds the query reads
    hold: int  # seconds the condition must hold ("for")
    no_data: str  # OK | NoData | Alerting
    level: int  # 1-3, see SEVERITY

    @property
    def severity(self) -> str:
        return SEVERITY[self.level]


def alerts(data) -> list[Alert]:
    """Seed 004's rules and thresholds, each with its level."""
    d = data
    return [
        Alert("stack-error-rate", f"Error rate above {d.grafana_alert_error_rate_percent} %", ERRORS, "gt",
              d.grafana_alert_error_rate_percent, 60, d.grafana_alert_error_rate_for, "OK", 3),
        Alert("stack-auth-failures", f"Auth failures (401/403) above {d.grafana_alert_auth_failure_percent} %",
              AUTH_FAILURES, "gt", d.grafana_alert_auth_failure_percent, 60, d.grafana_alert_auth_failure_for, "OK", 3),
        Alert("stack-fetch-failures", f"Data-fetch failures above {d.grafana_alert_fetch_failure_percent} %",
              FETCH_FAILURES, "gt", d.grafana_alert_fetch_failure_percent, 60, d.grafana_alert_fetch_failure_for,
              "OK", 2),
        Alert("stack-p99", f"P99 response time above {d.grafana_alert_p99_seconds} s", P99, "gt",
              d.grafana_alert_p99_seconds, 60, d.grafana_alert_p99_for, "OK", 1),
        Alert("stack-cpu", f"CPU above {d.grafana_alert_cpu_percent} %", CPU, "gt",
              d.grafana_alert_cpu_percent, 60, d.grafana_alert_cpu_for, "NoData", 1),
        Alert("stack-memory", f"Memory above {d.grafana_alert_memory_percent} %", MEMORY, "gt",
              d.grafana_alert_memory_percent, 60, d.grafana_alert_memory_for, "NoData", 1),
    ] + ([  # none while nothing backs up: they would fire forever. No point at all is the alert.
        Alert("stack-backup", f"No successful backup in {d.grafana_alert_backup_age_hours} h",
              Series("backup", "success", agg="max", by=None), "lt", 1, d.grafana_alert_backup_age_hours * 3600, 0,
              "Alerting", 2),
        Alert("stack-restore-drill", f"No successful restore drill in {d.grafana_alert_drill_age_days} days",
              Series("restore", "success", agg="max", where=(("kind", "drill"),), by=None), "lt", 1,
              d.grafana_alert_drill_age_days * 86400, 0, "Alerting", 2),
    ] if d.backup_enabled else [])


def alert_rules(major: int, bucket: str, rp: str, data) -> dict:
    rules = []
    for a in alerts(data):
        annotations = {"summary": a.title, "description": f"Level {a.level} ({a.severity}): "
                       f"docs/runbook.md#{a.uid} says what to do"}
        if data.grafana_runbook_url:
            annotations["runbook_url"] = f"{data.grafana_runbook_url}#{a.uid}"
        rules.append({
            "uid": a.uid, "title": a.title, "condition": "C",
            "data": [
                {"refId": "A", "relativeTimeRange": {"from": a.window, "to": 0}, "datasourceUid": DATASOURCE_UID,
                 "model": query_model(a.series, major, bucket, rp, "A", windowed=False)},
                {"refId": "B", "datasourceUid": "__expr__",
                 "model": {"refId": "B", "type": "reduce", "expression": "A", "reducer": "last"}},
                {"refId": "C", "datasourceUid": "__expr__",
                 "model": {"refId": "C", "type": "threshold", "expression": "B",
                           "conditions": [{"evaluator": {"type": a.op, "params": [a.threshold]}}]}},
            ],
            "for": f"{a.hold}s", "noDataState": a.no_data, "execErrState": "Error",
            "labels": {"severity": a.severity, "level": str(a.level)}, "annotations": annotations,
        })
    return {"apiVersion": 1, "groups": [{"orgId": 1, "name": "stack", "folder": FOLDER, "interval": "30s",
                                         "rules": rules}]}


# The secret that turns each channel on (email is on once grafana_alert_emails has an address).
CHANNEL_SECRETS = {"webhook": "alert_webhook_url", "slack": "alert_slack_url", "pagerduty": "alert_pagerduty_key"}


def channels(emails: list[str], secret) -> dict[str, dict]:
    """The channels that are on, as Grafana's settings for each; ``secret(name)`` gives a
    secret's value or None."""
    given = {kind: secret(name) for kind, name in CHANNEL_SECRETS.items()}
    settings = {"webhook": lambda v: {"url": v, "httpMethod": "POST"}, "slack": lambda v: {"url": v},
                "pagerduty": lambda v: {"integrationKey": v, "severity": "critical"}}  # Events API v2
    on = {kind: settings[kind](value) for kind, value in given.items() if value}
    if emails:
        on["email"] = {"addresses": ";".join(emails)}
    return on


def contact_points(channels: dict[str, dict]) -> dict[str, list[tuple[str, dict]]]:
    """One contact point per severity: the channels that are on among its route's."""
    return {f"stack-{sev}": [(kind, channels[kind]) for kind in kinds if kind in channels]
            for sev, kinds in ROUTES.items()}
