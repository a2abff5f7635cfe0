"""Grafana's files as tasks/grafana.py renders them for the production
inventory: grafana.ini, the datasource, dashboards, alert rules and contact
points. Grafana itself can't be installed here (its apt repository is
unreachable), so what needs its binary is skipped."""

import configparser
import json
import re
import shutil

import pytest
import yaml

from stack import grafana
from tests.helpers import REPO, load_inventory, render_for
from tests.monitoring import grafana_queries, produced

MON = "mon1.prod.example.com"


def inventory():
    return load_inventory("production")


def data():
    return inventory().get_host(MON).data


def ini():
    parser = configparser.ConfigParser(interpolation=None, comment_prefixes=(";", "#"))
    parser.read_string(render_for(inventory(), MON, "templates/grafana/grafana.ini.j2", server_name="sales.example"))
    return parser


def datasource(major):
    inv = inventory()
    inv.get_host(MON).data.influxdb_major = major
    return yaml.safe_load(render_for(inv, MON, "templates/grafana/datasource.yaml.j2", uid=grafana.DATASOURCE_UID,
                                     token="the-token", url="https://10.10.1.51:8086",
                                     ca_cert="-----BEGIN CERTIFICATE-----\nCA\n"))["datasources"][0]


def reads(query: str) -> tuple[str, str]:
    """(measurement, field) a generated InfluxQL or Flux query reads."""
    if query.startswith("SELECT"):
        return (re.search(r'FROM "[^"]+"\."([^"]+)"', query)[1],
                re.search(r'^SELECT [^"]*"([^"]+)"', query)[1])
    return re.search(r'r._measurement == "([^"]+)"', query)[1], re.search(r'r._field == "([^"]+)"', query)[1]


def test_ini_holds_no_password_and_reads_secrets_from_files():
    security = ini()["security"]
    assert security["admin_password"] == "$__file{/etc/grafana/admin_password}"
    assert security["secret_key"] == "$__file{/etc/grafana/secret_key}"
    assert "admin_password = admin" not in render_for(inventory(), MON, "templates/grafana/grafana.ini.j2",
                                                       server_name="x")


def test_ini_turns_sign_up_anonymous_access_and_phoning_home_off():
    c = ini()
    assert c["users"]["allow_sign_up"] == "false" and c["users"]["allow_org_create"] == "false"
    assert c["auth.anonymous"]["enabled"] == "false"
    assert c["analytics"]["reporting_enabled"] == "false" and c["snapshots"]["external_enabled"] == "false"
    assert c["security"]["cookie_secure"] == "true"


def test_ini_binds_the_private_address_and_serves_under_grafana_path():
    server = ini()["server"]
    assert server["http_addr"] == "10.10.1.51" and server["http_port"] == "3000"
    assert server["root_url"] == "https://sales.example/grafana/" and server["serve_from_sub_path"] == "true"


def test_datasource_is_flux_with_the_token_in_secure_json_data_on_2x():
    ds = datasource(2)
    assert ds["uid"] == grafana.DATASOURCE_UID and ds["jsonData"]["version"] == "Flux"
    assert ds["jsonData"]["organization"] == "easy-erp" and ds["jsonData"]["defaultBucket"] == "metrics"
    assert ds["secureJsonData"] == {"token": "the-token", "tlsCACert": "-----BEGIN CERTIFICATE-----\nCA\n"}
    assert "token" not in json.dumps(ds["jsonData"])


def test_datasource_is_influxql_with_the_database_on_1x():
    ds = datasource(1)
    assert "version" not in ds["jsonData"] and ds["jsonData"]["dbName"] == "metrics"
    assert ds["secureJsonData"] == {"password": "the-token", "tlsCACert": "-----BEGIN CERTIFICATE-----\nCA\n"}


@pytest.mark.parametrize("major", [1, 2])
def test_datasource_reads_influxdb_over_https_trusting_the_internal_ca(major):
    ds = datasource(major)
    assert ds["url"].startswith("https://") and ds["jsonData"]["tlsAuthWithCACert"] is True


@pytest.mark.parametrize("major", [1, 2])
def test_the_two_seed_dashboards_render_as_json_with_a_query_per_panel(major):
    dashes = {d["title"]: d for d in grafana.dashboards(major, "metrics", "90d").values()}
    assert set(dashes) == {"Database monitoring", "Application performance"}
    for dash in dashes.values():
        assert dash["panels"] and all(len(p["targets"]) == 1 and p["targets"][0]["query"] for p in dash["panels"])
        assert all(p["datasource"]["uid"] == grafana.DATASOURCE_UID for p in dash["panels"])


@pytest.mark.parametrize("uid", list(grafana.DASHBOARDS))
def test_panels_have_distinct_ids_and_do_not_overlap(uid):
    panels = grafana.dashboard(uid, 1, "metrics", "90d")["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    cells = [(p["gridPos"]["x"] + dx, p["gridPos"]["y"] + dy) for p in panels
             for dx in range(p["gridPos"]["w"]) for dy in range(p["gridPos"]["h"])]
    assert len(cells) == len(set(cells)) and all(x < 24 for x, _ in cells)  # Grafana's grid is 24 wide


def test_database_dashboard_shows_connections_and_query_time():
    (_, panels) = grafana.DASHBOARDS["database-monitoring"]
    shown = {(p.series.measurement, p.series.field) for p in panels}
    assert {("mysql", "threads_connected"), ("mysql", "slow_queries")} <= shown


def test_application_dashboard_shows_response_time_error_rate_memory_and_cpu():
    (_, panels) = grafana.DASHBOARDS["application-performance"]
    shown = {(p.series.measurement, p.series.field) for p in panels}
    assert {("nginx_access", "request_time"), ("nginx_access", "error"), ("mem", "used_percent"),
            ("cpu", "usage_idle")} <= shown


@pytest.mark.parametrize("major", [1, 2])
def test_every_query_reads_a_measurement_and_field_that_is_really_written(major):
    written = produced()
    for where, query in grafana_queries(major):
        measurement, field = reads(query)
        assert field in written.get(measurement, set()), f"{where}: nothing writes {measurement}.{field}"


def test_a_query_of_something_nobody_writes_is_caught():
    # the check above can fail: a typo'd field is not in what is written
    bad = grafana.Series("mem", "used_percnt").influxql("90d")
    assert reads(bad)[1] not in produced()["mem"]


@pytest.mark.parametrize("major", [1, 2])
def test_alert_rules_chain_query_reduce_threshold_on_our_datasource(major):
    doc = yaml.safe_load(yaml.safe_dump(grafana.alert_rules(major, "metrics", "90d", data())))
    (group,) = doc["groups"]
    for rule in group["rules"]:
        steps = {d["refId"]: d for d in rule["data"]}
        assert rule["condition"] == "C" and set(steps) == {"A", "B", "C"}
        assert steps["A"]["datasourceUid"] == datasource(major)["uid"]
        assert steps["B"]["model"]["expression"] == "A" and steps["C"]["model"]["expression"] == "B"


def test_alert_thresholds_are_the_seed_values():
    rules = {r["uid"]: r for r in grafana.alert_rules(1, "metrics", "90d", data())["groups"][0]["rules"]}

    def threshold(uid):
        return rules[uid]["data"][2]["model"]["conditions"][0]["evaluator"]

    assert threshold("stack-error-rate") == {"type": "gt", "params": [5]} and rules["stack-error-rate"]["for"] == "60s"
    assert threshold("stack-p99") == {"type": "gt", "params": [5]} and rules["stack-p99"]["for"] == "120s"
    assert threshold("stack-cpu")["params"] == [80] and threshold("stack-memory")["params"] == [85]


def rules_with(backup_enabled: bool) -> dict:
    d = data()
    d.backup_enabled = backup_enabled
    return {r["uid"]: r for r in grafana.alert_rules(1, "metrics", "90d", d)["groups"][0]["rules"]}


def test_no_backup_or_drill_alert_while_backups_are_off():
    # they would fire forever: nothing writes a backup point then
    assert {"stack-backup", "stack-restore-drill"}.isdisjoint(rules_with(False))


def test_with_backups_on_no_successful_backup_in_26_hours_or_drill_in_8_days_alerts():
    rules = rules_with(True)
    for uid, seconds in (("stack-backup", 26 * 3600), ("stack-restore-drill", 8 * 86400)):
        rule = rules[uid]
        assert rule["data"][0]["relativeTimeRange"]["from"] == seconds
        assert rule["data"][2]["model"]["conditions"][0]["evaluator"] == {"type": "lt", "params": [1]}
        assert rule["noDataState"] == "Alerting"  # no point at all is the failure
    assert "'kind' = 'drill'" in rules["stack-restore-drill"]["data"][0]["model"]["query"].replace('"', "'")


def test_auth_failures_alert_above_10_percent_of_answers_for_30_s_as_critical():
    rule = rules_with(True)["stack-auth-failures"]
    assert rule["data"][2]["model"]["conditions"][0]["evaluator"] == {"type": "gt", "params": [10]}
    assert rule["for"] == "30s" and rule["labels"] == {"severity": "critical", "level": "3"}
    query = rule["data"][0]["model"]["query"]
    assert '"auth_failure"' in query and '"nginx_access"' in query and "* 100" in query  # a share of all answers


def test_data_fetch_failures_alert_above_20_percent_of_reads_for_180_s_as_an_error():
    rule = rules_with(True)["stack-fetch-failures"]
    assert rule["data"][2]["model"]["conditions"][0]["evaluator"] == {"type": "gt", "params": [20]}
    assert rule["for"] == "180s" and rule["labels"] == {"severity": "error", "level": "2"}
    assert "\"kind\" = 'read'" in rule["data"][0]["model"]["query"]  # a share of reads, not of every request


def test_every_rule_has_a_level_with_its_severity_and_seed_004s_levels_for_the_seed_rules():
    rules = rules_with(True)
    assert {uid: r["labels"]["severity"] for uid, r in rules.items() if uid in (
        "stack-error-rate", "stack-p99", "stack-auth-failures", "stack-fetch-failures")} == {
        "stack-error-rate": "critical", "stack-auth-failures": "critical", "stack-fetch-failures": "error",
        "stack-p99": "warning"}
    assert all(grafana.SEVERITY[int(r["labels"]["level"])] == r["labels"]["severity"] for r in rules.values())


def test_each_rule_points_at_its_runbook_entry_and_every_entry_exists():
    d = data()
    d.grafana_runbook_url = "https://git.example/ops/stack/blob/main/docs/runbook.md"
    rules = {r["uid"]: r for r in grafana.alert_rules(1, "metrics", "90d", d)["groups"][0]["rules"]}
    runbook = (REPO / "docs/runbook.md").read_text()
    for uid, rule in rules.items():
        assert rule["annotations"]["runbook_url"] == f"{d.grafana_runbook_url}#{uid}"
        assert f"### {uid}\n" in runbook, f"docs/runbook.md has no entry for {uid}"


def contact_points(**given):
    """The rendered contact points with these secrets given (and grafana_alert_emails as set)."""
    inv = inventory()
    d = inv.get_host(MON).data
    d.grafana_alert_emails = given.pop("emails", [])
    points = grafana.contact_points(grafana.channels(d.grafana_alert_emails, given.get))
    doc = yaml.safe_load(render_for(inv, MON, "templates/grafana/contact-points.yaml.j2", points=points,
                                    timing=grafana.TIMING))
    return {p["name"]: {r["type"]: r["settings"] for r in p["receivers"]} for p in doc["contactPoints"]}, doc


def test_critical_alerts_reach_slack_email_pagerduty_and_the_webhook():
    points, _ = contact_points(emails=["ops@example.com"], alert_slack_url="https://slack.example/y",
                               alert_pagerduty_key="pd-key", alert_webhook_url="https://hooks.example/x")
    assert points["stack-critical"] == {
        "slack": {"url": "https://slack.example/y"}, "email": {"addresses": "ops@example.com"},
        "pagerduty": {"integrationKey": "pd-key", "severity": "critical"},
        "webhook": {"url": "https://hooks.example/x", "httpMethod": "POST"}}


def test_errors_and_warnings_never_page():
    points, _ = contact_points(emails=["ops@example.com"], alert_slack_url="https://slack.example/y",
                               alert_pagerduty_key="pd-key")
    assert set(points["stack-error"]) == set(points["stack-warning"]) == {"slack", "email"}


def test_a_channel_whose_secret_is_not_given_is_off():
    points, _ = contact_points(alert_webhook_url="https://hooks.example/x")
    assert all(set(receivers) == {"webhook"} for receivers in points.values())


def test_each_severity_routes_to_its_contact_point_and_a_warning_waits_five_minutes():
    _, doc = contact_points(alert_webhook_url="https://hooks.example/x")
    routes = {r["object_matchers"][0][2]: r for r in doc["policies"][0]["routes"]}
    assert {sev: r["receiver"] for sev, r in routes.items()} == {
        "warning": "stack-warning", "error": "stack-error", "critical": "stack-critical"}
    assert routes["warning"]["group_wait"] == "5m"  # one that recovers by itself is only recorded


def test_dashboard_provider_points_at_the_dashboards_directory():
    doc = yaml.safe_load(render_for(inventory(), MON, "templates/grafana/dashboards.yaml.j2", folder="stack",
                                    path="/var/lib/grafana/dashboards"))
    (provider,) = doc["providers"]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards" and provider["allowUiUpdates"] is False


@pytest.mark.skipif(not shutil.which("grafana-cli"), reason="needs the grafana-cli binary: Grafana's apt repository "
                    "is unreachable from these machines")
def test_grafana_cli_takes_the_password_from_stdin():  # pragma: no cover - runs where Grafana is installed
    import subprocess
    # tasks/grafana.py applies a changed admin password this way, never on a command line
    out = subprocess.run(["grafana-cli", "admin", "reset-admin-password", "--help"], capture_output=True, text=True)
    assert "--password-from-stdin" in out.stdout + out.stderr
