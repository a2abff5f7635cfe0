"""Grafana on the testbed: its repository is unreachable here, so the testbed
turns it off. Turned on, the run must fail at the repository, loudly, and leave
nothing half-installed. (Its files are checked in tests/unit/test_grafana.py.)"""
from tests.e2e.helpers import vendor_unreachable


def test_grafana_where_its_repository_is_unreachable_fails_at_the_download(host, testbed):
    proc = vendor_unreachable(testbed, "tasks/grafana.py", "grafana", "grafana_enabled=true",
                              'grafana_alert_emails=["ops@example.com"]')
    assert proc.returncode != 0
    assert "Grafana: signing key" in proc.stdout + proc.stderr
    assert not host("web1").package("grafana").is_installed
    assert not host("web1").file("/etc/apt/sources.list.d/grafana.sources").exists
