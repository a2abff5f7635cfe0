"""tasks/maintenance.py on the testbed: the flag on every web host, by hand."""
from tests.e2e.helpers import get, pyinfra_on_testbed

FLAG = "/var/www/maintenance/on"


def test_maintenance_on_serves_the_page_and_off_serves_the_app_again(host, address):
    on = pyinfra_on_testbed("tasks/maintenance.py", "--data", "maintenance=on")
    try:
        assert on.returncode == 0, on.stderr[-2000:]
        assert host("web1").file(FLAG).exists and get(address("web1"), "/health").status == 503
    finally:
        off = pyinfra_on_testbed("tasks/maintenance.py", "--data", "maintenance=off")
    assert off.returncode == 0, off.stderr[-2000:]
    assert not host("web1").file(FLAG).exists and get(address("web1"), "/health").status == 200


def test_without_a_mode_nothing_is_touched(host):
    proc = pyinfra_on_testbed("tasks/maintenance.py", json_output=False)
    assert proc.returncode != 0 and "say which: --data maintenance=on or --data maintenance=off" in proc.stderr
    assert not host("web1").file(FLAG).exists


def test_a_mode_it_does_not_know_is_refused_before_any_host_is_contacted():
    proc = pyinfra_on_testbed("tasks/maintenance.py", "--data", "maintenance=yes")
    assert proc.returncode != 0 and "maintenance: 'yes' is not one of" in proc.stderr
