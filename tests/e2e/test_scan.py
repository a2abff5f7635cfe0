"""tasks/scan.py on the testbed (web1): Lynis's audit and the pending security updates,
one line per host, failing past the thresholds. Lynis is removed again afterwards."""

import re

import pytest

from tests.e2e.helpers import pyinfra_on_testbed


@pytest.fixture
def lynis_removed_after(host):
    yield
    host("web1").run_expect([0], "apt-get purge -y -qq lynis >/dev/null && rm -f /var/log/lynis*")


def scan(*data):
    return pyinfra_on_testbed("tasks/scan.py", "--limit", "web1", *[a for d in data for a in ("--data", d)],
                              json_output=False)


def test_a_host_below_the_hardening_threshold_fails_the_scan_in_one_line_naming_its_findings(lynis_removed_after):
    # one scan (Lynis takes a while): its findings line, and the failure it makes past a
    # threshold; where the thresholds pass is stack.scan.verdict's (tests/unit/test_scan.py)
    proc = scan("scan_security_updates_max=10000", "scan_lynis_min_index=100")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert re.search(r"scan: web1: \d+ security update\(s\) pending.* Lynis hardening index \d+ \(at least 100\), "
                     r"\d+ warning\(s\)", out), out[-3000:]
    assert "Traceback" not in out
