"""stack/platforms.py: the support matrix, and the refusal of everything else."""

import pytest

from stack import platforms

TRIXIE = 'PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\nNAME="Debian GNU/Linux"\nVERSION_ID="13"\nID=debian\n'
JAMMY = ('PRETTY_NAME="Ubuntu 22.04.4 LTS"\nNAME="Ubuntu"\nVERSION_ID="22.04"\nID=ubuntu\n'
         'ID_LIKE=debian\n')


def test_os_release_fields_are_read_unquoted():
    assert platforms.os_release(TRIXIE)["VERSION_ID"] == "13"
    assert platforms.os_release(TRIXIE)["PRETTY_NAME"] == "Debian GNU/Linux 13 (trixie)"


@pytest.mark.parametrize("version", ["12", "13"])
def test_debian_12_and_13_are_supported(version):
    assert platforms.problem("db1", {"ID": "debian", "VERSION_ID": version}) is None


def test_ubuntu_is_refused_naming_the_host_what_it_runs_and_what_is_supported():
    why = platforms.problem("db1", platforms.os_release(JAMMY))
    assert why == ("db1 runs Ubuntu 22.04.4 LTS, which this deploy does not support; "
                   "supported: Debian 13 (trixie), Debian 12 (bookworm)")


def test_an_older_debian_is_refused():
    assert "runs debian 11" in platforms.problem("db1", {"ID": "debian", "VERSION_ID": "11"})


def test_a_host_without_os_release_is_refused():
    assert "runs an OS without /etc/os-release" in platforms.problem("db1", platforms.os_release(""))
