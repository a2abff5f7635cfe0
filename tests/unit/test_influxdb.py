"""tasks/influxdb.py's InfluxDB 2.x path and the vendor apt sources, which can't
run here (InfluxData's and Grafana's repositories are unreachable): the files
are checked as the programs that read them would (TOML, apt itself)."""

import shutil
import subprocess
import tomllib

import pytest

from stack import tls, vendor
from tests.helpers import load_inventory, render_for
from tests.monitoring import influxd2

FINGERPRINT = "AC10D7449F343ADCEFDDC2B6DA61C26A0585BD3B"


def apt_reads(tmp_path, content: str) -> subprocess.CompletedProcess:
    """apt parses a sources file (and prints what it would fetch, fetching nothing)."""
    for d in ("parts", "lists/partial", "cache"):
        (tmp_path / d).mkdir(parents=True, exist_ok=True)
    (tmp_path / "parts" / "vendor.sources").write_text(content)
    options = ["Dir::Etc::SourceList=/dev/null", f"Dir::Etc::SourceParts={tmp_path}/parts",
               f"Dir::State::Lists={tmp_path}/lists", f"Dir::Cache={tmp_path}/cache", "Debug::NoLocking=1"]
    return subprocess.run(["apt-get", *[a for o in options for a in ("-o", o)], "update", "--print-uris"],
                          capture_output=True, text=True)


def source(fingerprint=FINGERPRINT):
    from pyinfra.api.util import get_template
    return get_template(vendor.TEMPLATE).render(**vendor.context(
        "influxdata", "InfluxData", "https://apt-mirror.example.com/influxdata/debian", "stable", ["main"],
        fingerprint))


def test_vendor_source_pins_the_keyring_and_fingerprint():
    fields = dict(line.split(": ", 1) for line in source().splitlines() if line and not line.startswith("#"))
    assert fields == {"Types": "deb", "URIs": "https://apt-mirror.example.com/influxdata/debian", "Suites": "stable",
                      "Components": "main", "Signed-By": f"/etc/apt/keyrings/influxdata.asc {FINGERPRINT}"}


@pytest.mark.skipif(not shutil.which("apt-get"), reason="needs apt-get to parse the source")
def test_apt_accepts_the_vendor_source_and_would_fetch_from_its_url(tmp_path):
    out = apt_reads(tmp_path, source())
    assert out.returncode == 0, out.stderr
    assert "'https://apt-mirror.example.com/influxdata/debian/dists/stable/InRelease'" in out.stdout


@pytest.mark.skipif(not shutil.which("apt-get"), reason="needs apt-get to parse the source")
def test_apt_refuses_a_source_whose_signed_by_is_not_a_fingerprint(tmp_path):
    # the control for the test above: apt really checks Signed-By
    out = apt_reads(tmp_path, source(fingerprint="not-a-fingerprint"))
    assert out.returncode != 0 and "Signed-By" in out.stderr


def test_influxdb2_config_is_toml_bound_to_the_private_address_without_reporting():
    config = tomllib.loads(render_for(load_inventory("production"), "mon1.prod.example.com",
                                      "templates/influxdb/config.toml.j2", tls=tls))
    assert config["http-bind-address"] == "10.10.1.51:8086"
    assert config["reporting-disabled"] is True and config["pprof-disabled"] is True


def test_influxdb2_serves_https_only_with_the_hosts_certificate():
    config = tomllib.loads(render_for(load_inventory("production"), "mon1.prod.example.com",
                                      "templates/influxdb/config.toml.j2", tls=tls))
    assert (config["tls-cert"], config["tls-key"]) == (tls.HOST_CERT, tls.HOST_KEY)
    assert config["tls-min-version"] == "1.2" and config["tls-strict-ciphers"] is True


@pytest.mark.skipif(not influxd2(), reason="needs InfluxDB 2's influxd: InfluxData's apt repository "
                    "is unreachable from these machines")
def test_influxd_accepts_the_config(tmp_path):  # pragma: no cover - runs where InfluxDB 2 is installed
    path = tmp_path / "config.toml"
    path.write_text(render_for(load_inventory("production"), "mon1.prod.example.com",
                               "templates/influxdb/config.toml.j2", tls=tls))
    out = subprocess.run(["influxd", "print-config"], env={"INFLUXD_CONFIG_PATH": str(path)}, capture_output=True,
                         text=True)
    assert out.returncode == 0 and "10.10.1.51:8086" in out.stdout
