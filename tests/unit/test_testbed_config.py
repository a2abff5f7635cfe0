"""testbed pieces that need no root: the mirror comes from apt's own config."""

import pytest

from testbed import TOPOLOGY, Testbed, TestbedError, apt_mirror


def test_mirror_is_read_from_deb822_sources(tmp_path):
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d/debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.invalid/debian\nSuites: bookworm bookworm-updates\n"
        "Components: main\n\nTypes: deb\nURIs: http://mirror.invalid/debian-security\n"
        "Suites: bookworm-security\nComponents: main\n")
    assert apt_mirror(tmp_path) == "http://mirror.invalid/debian"
    assert apt_mirror(tmp_path, suite="bookworm-security") == "http://mirror.invalid/debian-security"


def test_mirror_is_read_from_legacy_sources_list(tmp_path):
    (tmp_path / "sources.list").write_text(
        "# comment\ndeb http://sec.invalid/debian-security bookworm-security main\n"
        "deb [arch=amd64] http://legacy.invalid/debian bookworm main\n")
    assert apt_mirror(tmp_path) == "http://legacy.invalid/debian"


def test_no_mirror_is_a_clear_error(tmp_path):
    with pytest.raises(TestbedError, match="no Debian mirror for trixie found"):
        apt_mirror(tmp_path)


def test_a_mirror_of_one_release_serves_the_others(tmp_path):
    """A bookworm controller's sources give trixie hosts their archive and security archive."""
    (tmp_path / "sources.list").write_text("deb http://mirror.invalid/debian bookworm main\n"
                                           "deb http://sec.invalid/debian-security bookworm-security main\n")
    assert apt_mirror(tmp_path, suite="trixie") == "http://mirror.invalid/debian"
    assert apt_mirror(tmp_path, suite="trixie-security") == "http://sec.invalid/debian-security"


def test_an_unknown_release_is_refused():
    with pytest.raises(TestbedError, match="unknown release 'jammy'"):
        Testbed(name="t1", release="jammy")


def test_host_addresses_are_stable_and_distinct():
    tb = Testbed(name="t1", subnet="10.231.5.0/24")
    addresses = [tb.address(h) for h in TOPOLOGY]
    assert addresses[0] == "10.231.5.11" and len(set(addresses)) == len(TOPOLOGY)


def test_default_topology_has_every_group_and_one_primary():
    groups = {g for h in TOPOLOGY.values() for g in h["groups"]}
    assert groups == {"db_servers", "cache_servers", "app_servers", "web_servers", "monitoring_servers"}
    assert [h for h, v in TOPOLOGY.items() if v["data"].get("mysql_role") == "primary"] == ["db1"]


def test_name_that_would_overflow_link_names_is_refused():
    with pytest.raises(TestbedError, match="1-6 lowercase"):
        Testbed(name="waytoolong")


def test_extra_hosts_follow_the_topology_as_base_only_hosts():
    tb = Testbed(name="t1", subnet="10.231.5.0/24", hosts=("db1",), extra=3)
    assert tb.hosts == ("db1", "base1", "base2", "base3")
    assert [tb.address(h) for h in ("base1", "base3")] == ["10.231.5.16", "10.231.5.18"]


def test_more_extra_hosts_than_the_subnet_holds_are_refused():
    with pytest.raises(TestbedError, match="--extra: 0 to"):
        Testbed(name="t1", subnet="10.231.5.0/26", extra=60)
