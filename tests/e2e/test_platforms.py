"""stack/platforms.py on the testbed: a host whose OS is outside the support matrix
stops the run when it is reached, before any host changes."""

from tests.e2e.helpers import pyinfra_on_testbed

UBUNTU = 'PRETTY_NAME="Ubuntu 22.04.4 LTS"\nNAME="Ubuntu"\nVERSION_ID="22.04"\nID=ubuntu\nID_LIKE=debian\n'


def test_a_host_on_an_unsupported_os_is_refused_and_no_host_changes(host, first_deploy):
    web = host("web1")
    # What the OS says of itself, and nothing else, is faked: /etc/os-release is a symlink on Debian.
    web.run_expect([0], "mv /etc/os-release /etc/os-release.real && printf %s > /etc/os-release", UBUNTU)
    try:
        proc = pyinfra_on_testbed("deploy.py", "--data", "redis_maxmemory=300mb", json_output=False)
    finally:
        web.run_expect([0], "mv -f /etc/os-release.real /etc/os-release")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert ("preflight: web1 runs Ubuntu 22.04.4 LTS, which this deploy does not support; "
            "supported: Debian 13 (trixie), Debian 12 (bookworm). No host was changed.") in out
    assert "Starting operation" not in out  # nothing was run, let alone changed
    assert "maxmemory 300mb" not in web.file("/etc/redis/redis.conf").content_string
