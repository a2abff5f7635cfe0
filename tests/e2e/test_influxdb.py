"""tasks/influxdb.py on the testbed: InfluxDB 1.x on web1 (the monitoring host)."""

import json

import pytest

from tests.e2e.helpers import pyinfra_on_testbed, query, rows
from tests.monitoring import grafana_queries


def test_influxdb_is_running_enabled_and_on_the_private_address(host, address):
    assert host("web1").service("influxdb").is_running and host("web1").service("influxdb").is_enabled
    listening = [str(s) for s in host("web1").socket.get_listening_sockets() if s.endswith(":8086")]
    assert listening == [f"tcp://{address('web1')}:8086"]


def test_plain_http_gets_no_answer(host, address):
    out = host("web1").run("curl -sS -m 5 http://%s:8086/ping", address("web1"))
    assert out.rc != 0 or "Client sent an HTTP request to an HTTPS server" in out.stdout


def test_https_answers_with_the_internal_cas_certificate(host, address):
    out = host("web1").run("curl -sS -m 5 -o /dev/null -w '%%{http_code}' --cacert /etc/ssl/stack/ca.crt "
                           "https://%s:8086/ping", address("web1"))
    assert out.stdout == "204", out.stderr


def test_anonymous_and_wrong_password_are_refused(host):
    assert query(host, "anonymous", "SHOW DATABASES")["status"] == 401
    assert query(host, "wrong", "SHOW DATABASES")["status"] == 401
    assert query(host, "admin", "SHOW DATABASES")["status"] == 200


def test_database_has_a_default_90_day_retention_policy(host):
    assert ["metrics"] in rows(query(host, "admin", "SHOW DATABASES"))
    policies = {r[0]: r for r in rows(query(host, "admin", "SHOW RETENTION POLICIES ON metrics"))}
    assert policies["90d"][1] == "2160h0m0s" and policies["90d"][-1] is True


def test_writer_may_write_but_not_read(host):
    assert "not authorized" in str(query(host, "writer", "SELECT * FROM deployment")["body"])


def test_deploy_leaves_a_deployment_point(host, first_deploy):
    release = host("app1").check_output("readlink /srv/sales/current").removeprefix("releases/")
    points = rows(query(host, "admin", f"SELECT success, duration_s FROM deployment WHERE release = '{release}'"))
    assert points and points[0][1] == 1 and points[0][2] > 0


def test_writing_an_unknown_measurement_is_refused(host):
    out = host("web1").run("stack-influx write deploymnet release=x success=1")
    assert out.rc != 0 and "unknown measurement 'deploymnet'" in out.stderr


def accepted(host, influxql):
    """Run a dashboard/alert query as Grafana would send it, over the last hour."""
    q = influxql.replace("$timeFilter", "time > now() - 1h").replace("$__interval", "1m")
    result = query(host, "admin", q)
    return result["status"] == 200 and "error" not in json.dumps(result["body"]), result


def test_every_dashboard_and_alert_query_is_accepted_by_influxdb(host):
    for where, influxql in grafana_queries(major=1):
        ok, result = accepted(host, influxql)
        assert ok, f"{where}: {result}"


def test_a_query_influxdb_rejects_is_caught(host):
    # the control for the test above
    assert not accepted(host, 'SELECT mean("x") FROM WHERE $timeFilter')[0]


def test_deployment_panel_shows_the_deploys_point(host):
    from stack.grafana import DASHBOARDS
    (_, panels) = DASHBOARDS["application-performance"]
    (panel,) = [p for p in panels if p.series.measurement == "deployment"]
    q = panel.series.influxql("90d", window=None).replace("$timeFilter", "time > now() - 1d")
    assert rows(query(host, "admin", q))


@pytest.fixture
def webhook(webhook_receiver):
    yield webhook_receiver
    # back to the testbed's data (no webhook), for the tests after this one
    assert pyinfra_on_testbed("tasks/influxdb.py", "--limit", "web1").returncode == 0


@pytest.mark.parametrize("successes, posted", [("true", ["r-ok", "r-bad"]), ("false", ["r-bad"])])
def test_a_failed_flow_is_posted_to_the_webhook_and_a_success_only_with_success_notices(host, webhook, successes,
                                                                                           posted):
    proc = pyinfra_on_testbed("tasks/influxdb.py", "--limit", "web1", "--data", "influxdb_failure_webhook=true",
                              "--data", f"influxdb_success_webhook={successes}",
                              env={"STACK_ALERT_WEBHOOK_URL": webhook.url})
    assert proc.returncode == 0, proc.stderr[-2000:]
    host("web1").run_expect([0], "stack-influx write deployment environment=testbed release=r-ok success=1")
    host("web1").run_expect([0], "stack-influx write deployment environment=testbed release=r-bad success=0")
    assert [h["tags"]["release"] for h in webhook.received] == posted
    assert webhook.received[-1]["measurement"] == "deployment" and "deployment failed" in webhook.received[-1]["text"]
