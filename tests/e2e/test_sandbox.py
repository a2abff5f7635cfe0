"""Every service we run is sandboxed (stack/sandbox.py, or its own unit's settings),
scored by `systemd-analyze security` on the testbed: the scores go to the run's
measurements. That each still works is what the other tests check."""

import re

import pytest

from tests.helpers import MEASUREMENTS

# (host, unit, highest exposure allowed): the app's own unit "OK" (<= 3.0), the rest < 6.0
UNITS = [("app1", "sales", 3.0), ("db1", "mariadb", 6.0), ("db2", "mariadb", 6.0), ("web1", "nginx", 6.0),
         ("web1", "redis-server", 6.0), ("web1", "influxdb", 6.0)]


@pytest.mark.parametrize("name, unit, limit", UNITS)
def test_exposure_is_within_its_limit(host, name, unit, limit):
    out = host(name).check_output(f"systemd-analyze security {unit}.service --no-pager")
    exposure = float(re.search(r"Overall exposure level for \S+: ([\d.]+)", out)[1])
    MEASUREMENTS.append(f"systemd-analyze security {unit} on {name}: {exposure} (limit {limit})")
    assert exposure <= limit


@pytest.mark.parametrize("name, unit", [("app1", "sales"), ("db1", "mariadb"), ("web1", "nginx")])
def test_the_sandbox_holds_at_run_time(host, name, unit):
    # what the drop-in promises is what the running process has: no capability beyond its list
    pid = host(name).check_output(f"systemctl show {unit} -p MainPID --value")
    status = host(name).check_output(f"grep -E '^(CapBnd|NoNewPrivs|Seccomp):' /proc/{pid}/status")
    fields = dict(line.split(":\t") for line in status.splitlines())
    assert fields["NoNewPrivs"] == "1" and fields["Seccomp"] == "2"
    if unit == "sales":
        assert int(fields["CapBnd"], 16) == 0
