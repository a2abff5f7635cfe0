"""stack-influx's line protocol and its one definition of the ops measurements."""

import json

import pytest

from stack.hosttools.stack_influx.measurements import MEASUREMENTS, Failure, line
from tests.monitoring import influxd2


def test_point_is_line_protocol_with_typed_fields():
    assert line("deployment", {"environment": "testbed", "release": "2026-x 1"},
                {"duration_s": "9.1", "success": "1"}) == \
        "deployment,environment=testbed,release=2026-x\\ 1 duration_s=9.1,success=1i"


def test_unknown_measurement_is_refused():
    with pytest.raises(Failure, match="unknown measurement 'deploy'"):
        line("deploy", {}, {"success": 1})


def test_unknown_field_is_refused():
    with pytest.raises(Failure, match=r"unknown or missing names \['succes'\]"):
        line("deployment", {}, {"succes": 1})


def test_every_measurement_has_success_and_duration():
    # the dashboards' status panels and the "no successful backup" alert rely on these
    for name, spec in MEASUREMENTS.items():
        assert {"success", "duration_s"} <= set(spec["fields"]), name


@pytest.fixture
def receiver():
    """A real HTTP server on loopback that records every request and answers ``status``."""
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            server.requests.append((self.path, self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(server.status)
            self.end_headers()
            self.wfile.write(b'{"error": "refused"}')

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    server.requests, server.status = [], 204
    threading.Thread(target=server.serve_forever, daemon=True).start()
    server.url = f"http://127.0.0.1:{server.server_port}"
    yield server
    server.shutdown()


def test_a_successful_point_is_not_posted_to_the_webhook_unless_success_notices_are_on(receiver):
    from stack.hosttools.stack_influx.influx import notify
    notify({"webhook_url": receiver.url + "/hook"}, "deployment", {}, {"success": "1"})
    notify({"webhook_url": receiver.url + "/hook"}, "deployment", {}, {"success": "0"})  # control
    assert [path for path, _ in receiver.requests] == ["/hook"]


def test_with_success_notices_a_successful_flow_is_posted_saying_it_succeeded(receiver):
    from stack.hosttools.stack_influx.influx import notify
    notify({"webhook_url": receiver.url + "/hook", "notify_success": True}, "restore", {"host": "db1"},
           {"success": "1"})
    assert [json.loads(body)["text"] for _, body in receiver.requests] == ["restore succeeded: host=db1"]


def test_an_unreachable_webhook_is_named_without_its_secret_path():
    from stack.hosttools.stack_influx.influx import notify
    with pytest.raises(Failure) as e:
        notify({"webhook_url": "http://user:pw@127.0.0.1:9/services/T000/B000/secret-token"}, "deployment", {},
               {"success": "0"})
    assert str(e.value).startswith("http://127.0.0.1:9: ")
    assert "secret-token" not in str(e.value) and "pw" not in str(e.value)


@pytest.mark.parametrize("statement", [
    "SET PASSWORD FOR \"ops_writer\" = 'writer-secret-1234'",
    "CREATE USER \"ops_writer\" WITH PASSWORD 'writer-secret-1234'",
    "CREATE USER \"admin\" WITH PASSWORD 'writer-secret-1234' WITH ALL PRIVILEGES",
])
def test_a_refused_statement_is_reported_without_its_password(receiver, statement):
    from stack.hosttools.stack_influx.influx import Influx
    receiver.status = 500
    influx = Influx({"url": receiver.url, "retention_days": 90, "admin_user": "admin", "admin_password": "a-p"})
    with pytest.raises(Failure) as e:
        influx.query(statement)
    assert "HTTP 500" in str(e.value) and statement.split("'")[0].strip() in str(e.value)
    assert "writer-secret-1234" not in str(e.value)


def test_a_field_that_is_not_a_number_is_a_clear_error():
    with pytest.raises(Failure, match=r"deployment: field success='yes' is not a whole number"):
        line("deployment", {}, {"success": "yes"})


@pytest.mark.skipif(not influxd2(), reason="needs InfluxDB 2's influxd: InfluxData's apt repository is unreachable "
                    "from these machines")
def test_influxdb2_setup_converges_and_then_reports_in_sync(tmp_path):  # pragma: no cover - needs influxd 2
    import json
    import socket
    import subprocess
    import time

    from stack.hosttools.stack_influx import cli, influx2
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(["influxd", "--bolt-path", str(tmp_path / "b.bolt"), "--engine-path",
                               str(tmp_path / "engine"), "--http-bind-address", f"127.0.0.1:{port}",
                               "--reporting-disabled"])
    try:
        time.sleep(3)
        config = tmp_path / "influxdb.json"
        config.write_text(json.dumps({
            "major": 2, "url": f"http://127.0.0.1:{port}", "org": "o", "database": "metrics",
            "retention_days": 90, "admin_user": "admin",
            "admin_password": "operator-token-1234", "writer_user": "w", "writer_password": "writer-pass-1234"}))
        influx2.Influx2.APPLIED = str(tmp_path / "applied")
        assert cli.main(["--config", str(config), "setup", "--apply"]) == 0
        assert cli.main(["--config", str(config), "setup", "--check"]) == 0
        assert cli.main(["--config", str(config), "write", "deployment", "release=r", "success=1"]) == 0
    finally:
        server.terminate()


@pytest.mark.parametrize("tags", [
    {"environment": "testbed", "release": "2026-x"},
    {"environment": "test bed", "release": "a,b=c d"},  # every character line protocol escapes in a tag
    {"release": "back\\slash"},
])
def test_line_protocol_matches_influxdb_client(tags):
    # stack-influx runs on hosts with only Python's standard library; its
    # serialiser must agree with InfluxData's own client on the controller.
    from influxdb_client import Point
    point = Point("deployment").field("duration_s", 9.5).field("success", 1)
    for key, value in tags.items():
        point = point.tag(key, value)
    assert line("deployment", tags, {"duration_s": "9.5", "success": "1"}) == point.to_line_protocol()


def writers(measurement: str) -> list[str]:
    """Files of ours that run `stack-influx write <measurement>`."""
    from tests.helpers import REPO
    needle = f'"stack-influx", "write", "{measurement}"'
    return [str(p.relative_to(REPO)) for d in ("stack", "tasks") for p in (REPO / d).rglob("*.py")
            if needle in p.read_text()]


@pytest.mark.parametrize("measurement", list(MEASUREMENTS))
def test_every_ops_measurement_is_written_by_a_flow(measurement):
    # the dashboards' oracle counts MEASUREMENTS as written: each must really be
    assert writers(measurement), f"nothing writes {measurement}"


def test_a_measurement_nobody_writes_has_no_writer():
    assert writers("no_such_flow") == []  # the check above can fail
