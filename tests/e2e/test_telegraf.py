"""Telegraf on the testbed: InfluxData's repository is unreachable here, so the
testbed turns it off. Turned on, the run must fail at the repository, loudly,
and leave nothing half-installed. (Its config is checked in
tests/unit/test_telegraf.py; what nginx gives it, in test_nginx.py.)"""
from tests.e2e.helpers import vendor_unreachable


def test_telegraf_where_its_repository_is_unreachable_fails_at_the_download(host, testbed):
    proc = vendor_unreachable(testbed, "tasks/telegraf.py", "influxdb", "telegraf_enabled=true")
    assert proc.returncode != 0
    assert "InfluxData: signing key" in proc.stdout + proc.stderr
    assert not host("web1").package("telegraf").is_installed
    assert not host("web1").file("/etc/apt/sources.list.d/influxdata.sources").exists
