"""tasks/base.py: packages, time, apt proxy, sshd hardening and the firewall, as
found on the testbed hosts after the first deploy."""

import re
import subprocess

import pytest

from tests.e2e.helpers import RELEASE, pyinfra_on_testbed, reach
from tests.helpers import MEASUREMENTS, REPO


@pytest.mark.parametrize("name", ["db1", "web1"])
def test_base_packages_are_installed(host, name):
    for pkg in ("nftables", "systemd-timesyncd", "tzdata", "netbase"):
        assert host(name).package(pkg).is_installed, pkg


def test_timezone_is_set(host):
    assert host("app1").file("/etc/localtime").linked_to == "/usr/share/zoneinfo/Etc/UTC"


def test_ntp_servers_are_configured_and_timesyncd_enabled(host):
    conf = host("app1").file("/etc/systemd/timesyncd.conf.d/stack.conf")
    assert "NTP=0.debian.pool.ntp.org 1.debian.pool.ntp.org" in conf.content_string
    assert host("app1").service("systemd-timesyncd").is_enabled


def test_apt_goes_through_the_testbed_proxy(host, testbed):
    proxy = testbed.load_state()["apt_proxy"]
    assert f'Acquire::http::Proxy "{proxy}";' in host("db2").file("/etc/apt/apt.conf.d/01proxy").content_string


def test_sshd_refuses_passwords_and_allows_root_only_by_key(host):
    effective = host("db1").check_output("sshd -T")
    assert "passwordauthentication no" in effective
    assert "kbdinteractiveauthentication no" in effective
    assert "permitrootlogin without-password" in effective


def test_password_login_is_refused(host, testbed):
    # A real attempt from the controller: the server offers publickey only.
    out = testbed.ssh("db1", "true", check=False)  # sanity: the key works
    assert out.returncode == 0
    proc = subprocess.run(
        ["ssh", "-F", str(testbed.state_dir / "ssh_config"), "-o", "PubkeyAuthentication=no",
         "-o", "PreferredAuthentications=password,keyboard-interactive", "-o", "BatchMode=yes",
         "-o", "ConnectTimeout=5", "db1", "true"], capture_output=True, text=True)
    assert proc.returncode == 255
    assert "Permission denied (publickey)" in proc.stderr


def ssh_with(testbed, *options):
    return subprocess.run(["ssh", "-F", str(testbed.state_dir / "ssh_config"), "-o", "BatchMode=yes",
                           "-o", "ConnectTimeout=5", *options, "db1", "true"], capture_output=True, text=True)


@pytest.mark.parametrize("option", ["KexAlgorithms=ecdh-sha2-nistp256", "KexAlgorithms=diffie-hellman-group14-sha1",
                                    "Ciphers=aes128-cbc", "MACs=hmac-sha1", "MACs=umac-64-etm@openssh.com",
                                    "MACs=hmac-sha2-256", "HostKeyAlgorithms=ecdsa-sha2-nistp256"])
def test_weak_ssh_algorithms_are_refused(testbed, option):
    # a MAC is only negotiated with a cipher that has none of its own (not GCM, not ChaCha20)
    proc = ssh_with(testbed, "-o", option, *(["-o", "Ciphers=aes128-ctr"] if option.startswith("MACs") else []))
    assert proc.returncode == 255 and "no matching" in proc.stderr, proc.stderr


def test_modern_ssh_algorithms_are_accepted(testbed):
    # the control: the same command with the algorithms the server prefers gets in
    proc = ssh_with(testbed, "-o", "KexAlgorithms=curve25519-sha256", "-o", "Ciphers=chacha20-poly1305@openssh.com")
    assert proc.returncode == 0, proc.stderr


def test_tcp_forwarding_is_refused(testbed):
    proc = ssh_with(testbed, "-o", "ExitOnForwardFailure=yes", "-R", "127.0.0.1:40022:127.0.0.1:22")
    assert proc.returncode != 0 and "forwarding" in proc.stderr.lower(), proc.stderr


def test_firewall_drops_inbound_by_default(host):
    ruleset = host("db1").check_output("nft list chain inet filter input")
    assert "policy drop;" in ruleset


def test_port_is_open_only_to_the_groups_data_names(host):
    # the app's port is for web_servers only
    assert reach(host("web1"), "app1", 8000) == "open"
    assert reach(host("db1"), "app1", 8000) == "dropped"


def test_closed_port_is_dropped_not_refused(host):
    # nothing listens on 9999 anywhere: "dropped" is the firewall, "refused" would be the kernel
    assert reach(host("db1"), "app1", 9999) == "dropped"


def test_web_ports_are_open_to_anyone(host):
    assert reach(host("db1"), "web1", 443) == "open"
    assert reach(host("db1"), "app1", 443) == "dropped"


def test_ssh_stays_reachable_from_every_host(host):
    assert reach(host("db1"), "web1", 22) == "open"


def test_sshd_config_rejected_by_sshd_t_never_reaches_the_live_file(host, testbed):
    live = host("app2").file("/etc/ssh/sshd_config.d/10-stack.conf").content_string
    proc = pyinfra_on_testbed("tests/e2e/deploys/broken_sshd.py", "--limit", "app2")
    assert proc.returncode != 0
    assert host("app2").file("/etc/ssh/sshd_config.d/10-stack.conf").content_string == live
    assert not host("app2").file("/etc/ssh/sshd_config.d/10-stack.conf.candidate").exists
    assert host("app2").service("ssh").is_running
    assert testbed.ssh("app2", "true", check=False).returncode == 0
    # and the next good run checks the real config again and succeeds
    assert pyinfra_on_testbed("deploy.py", "--limit", "app2").returncode == 0


def test_time_sync_is_left_to_the_machine_in_a_container(host):
    # the container branch: enabled for a real boot, not started (systemd's own condition)
    h = host("db1")
    assert h.service("systemd-timesyncd").is_enabled and not h.service("systemd-timesyncd").is_running


def test_only_the_deploy_user_may_log_in_and_root_has_no_way_in(host, testbed):
    assert "allowusers deploy" in host("db1").check_output("sshd -T").splitlines()
    proc = subprocess.run(["ssh", "-F", str(testbed.state_dir / "ssh_config"), "-o", "BatchMode=yes",
                           "-o", "ConnectTimeout=5", "-l", "root", "db1", "true"], capture_output=True, text=True)
    assert proc.returncode == 255 and "Permission denied" in proc.stderr


def test_a_candidate_a_killed_run_left_behind_is_still_checked(host, testbed):
    # As if a run had died after uploading the candidate: the next run must check it,
    # not install it because it is already there.
    from jinja2 import Template
    live_path = "/etc/ssh/sshd_config.d/10-stack.conf"
    h = host("app2")
    live = h.file(live_path).content_string
    bad = Template((REPO / "templates/base/sshd.conf.j2").read_text()).render(port="not-a-port", allow_users=["deploy"])
    h.run_expect([0], "printf '%%s' %s > %s", bad, live_path + ".candidate")
    proc = pyinfra_on_testbed("tests/e2e/deploys/broken_sshd.py", "--limit", "app2")
    assert proc.returncode != 0
    assert h.file(live_path).content_string == live
    assert not h.file(live_path + ".candidate").exists
    assert testbed.ssh("app2", "true", check=False).returncode == 0


LYNIS_MIN = 75  # hardening index every role reaches (a bare testbed host: 58)


def lynis(h) -> str:
    """lynis' report for a host, lynis itself removed again afterwards."""
    h.run_expect([0], "DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends lynis")
    try:
        h.run_expect([0], "lynis audit system --quick --no-colors > /dev/null")
        return h.check_output("cat /var/log/lynis-report.dat")
    finally:
        h.run("DEBIAN_FRONTEND=noninteractive apt-get purge -y -q lynis && rm -f /var/log/lynis.log "
              "/var/log/lynis-report.dat")


@pytest.fixture(scope="module")
def lynis_reports(host):
    from concurrent.futures import ThreadPoolExecutor

    names = ["db1", "db2", "app1", "app2", "web1"]
    with ThreadPoolExecutor(len(names)) as pool:
        return dict(zip(names, pool.map(lambda n: lynis(host(n)), names)))


@pytest.mark.parametrize("name", ["db1", "db2", "app1", "app2", "web1"])
def test_lynis_finds_no_warning_and_a_hardening_index_of_75(lynis_reports, name):
    report = lynis_reports[name]
    index = int(re.search(r"^hardening_index=(\d+)$", report, re.M)[1])
    warnings = re.findall(r"^warning\[\]=(.*)$", report, re.M)
    MEASUREMENTS.append(f"lynis on {name}: hardening index {index}, {len(warnings)} warnings")
    assert warnings == [] and index >= LYNIS_MIN


def test_the_security_suite_comes_from_the_hosts_own_mirror(host):
    own = host("db1").check_output("grep -h '^deb ' /etc/apt/sources.list").split()[1]
    added = host("db1").file("/etc/apt/sources.list.d/stack-updates.list").content_string
    assert f"deb {own}-security {RELEASE}-security main" in added and f"deb {own} {RELEASE}-updates main" in added


def test_security_updates_are_applied_unattended_and_nothing_is_pending(host):
    h = host("app1")
    assert h.package("unattended-upgrades").is_installed
    assert 'APT::Periodic::Unattended-Upgrade "1";' in h.file("/etc/apt/apt.conf.d/20auto-upgrades").content_string
    pending = h.check_output("apt-get -s upgrade | grep -c '^Inst .*-security' || true")
    assert pending == "0"
