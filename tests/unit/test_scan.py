"""stack.scan: what tasks/scan.py reads on a host and when it fails."""

from types import SimpleNamespace

from stack import scan

SIMULATION = """\
NOTE: This is only a simulation!
Inst libssl3 [3.0.15-1~deb12u1] (3.0.16-1~deb12u1 Debian-Security:12/stable-security [amd64])
Inst tzdata [2024a-0+deb12u1] (2025b-0+deb12u1 Debian:12.11/stable [all])
Inst openssl [3.0.15-1~deb12u1] (3.0.16-1~deb12u1 Debian:12.11/stable, Debian-Security:12/stable-security [amd64])
Conf libssl3 (3.0.16-1~deb12u1 Debian-Security:12/stable-security [amd64])
"""

REPORT = """\
report_version_major=1
hardening_index=66
warning[]=SSH-7408|SSH option PermitRootLogin is not hardened|-|-|
warning[]=PKGS-7392|Found one or more vulnerable packages.|-|-|
suggestion[]=AUTH-9230|Configure password hashing rounds|-|-|
"""

DATA = SimpleNamespace(scan_security_updates_max=0, scan_lynis_min_index=60)


def test_only_updates_from_a_security_suite_count():
    assert scan.security_updates(SIMULATION) == ["libssl3", "openssl"]  # tzdata is a point release


def test_lynis_report_gives_the_index_and_each_warning():
    assert scan.lynis_report(REPORT) == (66, ["SSH-7408: SSH option PermitRootLogin is not hardened",
                                              "PKGS-7392: Found one or more vulnerable packages."])


def test_a_pending_security_update_past_the_threshold_fails_and_is_named():
    line, failed = scan.verdict("web1", ["openssl"], 70, [], DATA)
    assert failed and "web1: 1 security update(s) pending (openssl) (at most 0)" in line


def test_an_index_below_the_threshold_fails():
    assert scan.verdict("web1", [], 59, [], DATA)[1] is True


def test_a_report_without_an_index_fails():
    assert scan.verdict("web1", [], *scan.lynis_report("report_version_major=1\n"), DATA)[1] is True


def test_a_clean_host_passes():
    line, failed = scan.verdict("web1", [], 66, ["SSH-7408: x"], DATA)
    assert not failed and "Lynis hardening index 66 (at least 60), 1 warning(s): SSH-7408: x" in line
