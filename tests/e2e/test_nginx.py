"""tasks/nginx.py on the testbed: the TLS front on web1, seen from the controller."""

import json
import ssl
import time
import uuid

import pytest

from tests.e2e.helpers import get, pyinfra_on_testbed, reach, vendor_unreachable


@pytest.fixture
def web(address, first_deploy):
    return address("web1")


def test_health_through_nginx_over_tls(web):
    resp = get(web, "/health")
    assert resp.status == 200
    assert json.loads(resp.body)["status"] == "healthy"


def test_both_app_hosts_receive_traffic(web):
    served_by = {json.loads(get(web, "/health").body)["host"] for _ in range(20)}
    assert served_by == {"app1", "app2"}


def test_http_redirects_to_https_on_the_configured_name(web):
    resp = get(web, "/sales/summary?x=1", port=80)
    assert resp.status == 301
    assert resp.getheader("Location") == "https://sales.example.com/sales/summary?x=1"


def test_a_forged_host_header_never_comes_back_in_the_redirect(web):
    resp = get(web, "/", port=80, headers={"Host": "evil.example"})
    assert resp.status == 301 and "evil" not in resp.getheader("Location")


def test_security_headers_and_no_version(web):
    resp = get(web, "/health")
    assert resp.getheader("Strict-Transport-Security") == "max-age=63072000; includeSubDomains"
    assert resp.getheader("X-Content-Type-Options") == "nosniff"
    assert resp.getheader("X-Frame-Options") == "DENY"
    assert resp.getheader("Permissions-Policy") == "camera=(), microphone=(), geolocation=(), payment=(), usb=()"
    assert resp.getheader("Server") == "nginx"
    assert resp.getheader("Retry-After") is None  # only a 503 has one


def test_security_headers_on_errors_too(web):
    resp = get(web, "/no-such-page")
    assert resp.status == 404
    assert resp.getheader("Strict-Transport-Security") and resp.getheader("X-Frame-Options") == "DENY"


def test_static_files_are_cached_for_30_days(web):
    resp = get(web, "/static/style.css")
    assert resp.status == 200
    assert resp.getheader("Cache-Control") == "max-age=2592000"


def test_tls_1_2_is_accepted(web):
    assert get(web, "/health", tls_max=ssl.TLSVersion.TLSv1_2).tls == "TLSv1.2"


@pytest.mark.parametrize("group, accepted", [("X25519", True), ("prime256v1", True), ("secp384r1", True),
                                             ("X448", False), ("secp521r1", False)])
def test_only_the_chosen_curves_are_offered(web, group, accepted):
    import subprocess
    out = subprocess.run(["openssl", "s_client", "-connect", f"{web}:443", "-groups", group, "-brief"],
                         input="", capture_output=True, text=True, timeout=20)
    assert (out.returncode == 0 and "Protocol version" in out.stderr) == accepted, out.stderr[-400:]


def test_the_tls_key_is_roots_only(host):
    key = host("web1").file("/etc/nginx/tls/site.key")
    assert (key.mode, key.user, key.group) == (0o600, "root", "root")
    assert host("web1").file("/etc/nginx/tls").mode == 0o700


def test_default_site_is_gone(host):
    assert not host("web1").file("/etc/nginx/sites-enabled/default").exists


def test_maintenance_flag_serves_the_maintenance_page(host, web):
    host("web1").run_expect([0], "touch /var/www/maintenance/on")
    try:
        resp = get(web, "/health")
        assert resp.status == 503 and b"Down for maintenance" in resp.body
        assert resp.getheader("Strict-Transport-Security") and resp.getheader("Retry-After") == "120"
    finally:
        host("web1").run_expect([0], "rm -f /var/www/maintenance/on")
    assert get(web, "/health").status == 200


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_maintenance_answers_every_method_with_503_and_retry_after(host, web, method):
    """Not a 405 from the static page: clients retry a 503 with Retry-After, and give up on a 405."""
    host("web1").run_expect([0], "touch /var/www/maintenance/on")
    try:
        resp = get(web, "/sales", method=method, body=b'{"items": []}',
                   headers={"Content-Type": "application/json"})
    finally:
        host("web1").run_expect([0], "rm -f /var/www/maintenance/on")
    assert (resp.status, resp.getheader("Retry-After")) == (503, "120")
    assert b"Down for maintenance" in resp.body


def test_the_maintenance_page_is_not_served_on_its_own(web):
    assert get(web, "/maintenance.html").status == 404


def test_config_rejected_by_nginx_t_never_goes_live(host, web):
    live = host("web1").file("/etc/nginx/nginx.conf").content_string
    proc = pyinfra_on_testbed("tests/e2e/deploys/broken_nginx.py", "--limit", "web1")
    assert proc.returncode != 0
    assert host("web1").file("/etc/nginx/nginx.conf").content_string == live
    assert get(web, "/health").status == 200  # the old config keeps serving
    assert pyinfra_on_testbed("deploy.py", "--limit", "web1").returncode == 0


def last_log_line(host, path):
    """The last access log line that mentions ``path``, as JSON."""
    lines = host("web1").check_output("grep -F %s /var/log/nginx/access.log | tail -n 1", path)
    return json.loads(lines)


def test_access_log_is_json_with_the_fields_telegraf_reads(host, web):
    assert get(web, "/health").status == 200
    line = last_log_line(host, '"/health"')
    assert line["status"] == 200 and line["error"] == 0 and isinstance(line["request_time"], (int, float))


def test_a_5xx_is_logged_as_an_error(host, web):
    path = f"/probe-{uuid.uuid4().hex}"  # no other request has this path
    host("web1").run_expect([0], "touch /var/www/maintenance/on")
    try:
        assert get(web, path).status == 503
    finally:
        host("web1").run_expect([0], "rm -f /var/www/maintenance/on")
    line = last_log_line(host, f'"{path}"')
    assert line["status"] == 503 and line["error"] == 1


def test_a_read_answering_5xx_is_logged_as_a_fetch_failure_and_a_write_is_not(host, web):
    # the data-fetch alert's share (stack/grafana.py FETCH_FAILURES) counts reads only
    probe = uuid.uuid4().hex
    host("web1").run_expect([0], "touch /var/www/maintenance/on")
    try:
        assert get(web, f"/sales/{probe}").status == 503
        assert get(web, f"/sales?probe={probe}", method="POST", body=b"{}",
                   headers={"Content-Type": "application/json"}).status == 503
    finally:
        host("web1").run_expect([0], "rm -f /var/www/maintenance/on")
    read, write = last_log_line(host, f'"/sales/{probe}"'), last_log_line(host, f'"/sales?probe={probe}"')
    assert (read["kind"], read["fetch_failure"]) == ("read", 1)
    assert (write["kind"], write["fetch_failure"]) == ("write", 0)


def test_a_read_served_from_the_cache_is_no_fetch_failure(host, web):
    probe = uuid.uuid4().hex
    assert get(web, f"/sales/summary?probe={probe}").status == 200
    line = last_log_line(host, f"probe={probe}")
    assert (line["kind"], line["fetch_failure"], line["auth_failure"]) == ("read", 0, 0)


def test_stub_status_answers_on_loopback_only(host, web):
    assert "Active connections" in host("web1").check_output("curl -s http://127.0.0.1:8081/nginx_status")
    assert reach(host("app1"), web, 8081) != "open"


def answer_after_reload(web, path, status, seconds=10):
    """nginx's reload is graceful: for a moment after it, old workers may still answer
    with the old config. The first answer that is ``status``, or the last one."""
    deadline = time.monotonic() + seconds
    while (resp := get(web, path)).status != status and time.monotonic() < deadline:
        time.sleep(0.2)
    return resp


def test_grafana_is_served_under_its_path_with_its_own_csp(host, web, testbed):
    # Grafana turned on in data (its package can't be installed here): nginx
    # routes /grafana/ to the monitoring host's Grafana port, where nothing
    # listens on the testbed, so the answer is nginx's 502 rather than the app's.
    proc = vendor_unreachable(testbed, "tasks/nginx.py", "grafana", "grafana_enabled=true",
                              'grafana_alert_emails=["ops@example.com"]')
    assert proc.returncode == 0, proc.stderr[-2000:]
    try:
        resp = answer_after_reload(web, "/grafana/login", 502)
        assert resp.status == 502
        assert "'unsafe-inline'" in resp.getheader("Content-Security-Policy")
        assert "'unsafe-inline'" not in get(web, "/health").getheader("Content-Security-Policy")
    finally:
        assert pyinfra_on_testbed("tasks/nginx.py", "--limit", "web1").returncode == 0
    assert answer_after_reload(web, "/grafana/login", 404).status == 404  # back to the testbed's data: the app answers
