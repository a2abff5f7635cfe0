"""templates/telegraf/telegraf.conf.j2, rendered for the production inventory.
Telegraf itself can't be installed here (InfluxData's repository is
unreachable), so what needs its binary is skipped; the rest is checked as TOML.

tests/monitoring.py: TELEGRAF_FIELDS is what Telegraf's own READMEs document each input writes (the
measurement and the fields our dashboards may use). tests/unit/test_grafana.py
checks every panel and alert against ``tests.monitoring.produced()``.
"""

import shutil

import pytest

from stack import tls
from tests.helpers import REPO, load_inventory, render_for
from tests.monitoring import telegraf_configs


def test_every_host_sends_system_metrics_to_every_monitoring_host():
    for name, config in telegraf_configs().items():
        assert {"cpu", "mem", "disk", "system"} <= set(config["inputs"]), name
        (output,) = config["outputs"]["influxdb"]
        assert output["urls"] == ["https://10.10.1.51:8086"] and output["tls_ca"] == tls.CA_CERT
        assert output["database"] == "metrics" and output["retention_policy"] == "90d"


def test_cpu_input_writes_the_cpu_total_series_the_panels_filter_on():
    (cpu,) = telegraf_configs()["app1.prod.example.com"]["inputs"]["cpu"]
    assert cpu["totalcpu"] is True


def test_each_role_gets_its_own_input():
    c = telegraf_configs()
    assert set(c["db1.prod.example.com"]["inputs"]) & {"mysql", "redis", "nginx"} == {"mysql"}
    assert set(c["cache1.prod.example.com"]["inputs"]) & {"mysql", "redis", "nginx"} == {"redis"}
    assert set(c["web1.prod.example.com"]["inputs"]) & {"mysql", "redis", "nginx", "tail"} == {"nginx", "tail"}


def test_redis_is_read_over_tls_as_the_monitoring_user():
    (redis,) = telegraf_configs()["cache1.prod.example.com"]["inputs"]["redis"]
    assert (redis["username"], redis["password"], redis["tls_ca"]) == (
        "monitor", "${REDIS_MONITORING_PASSWORD}", tls.CA_CERT)


def test_no_secret_is_in_the_config_only_environment_references():
    for config in telegraf_configs().values():
        text = str(config)
        assert "${INFLUXDB_WRITER_PASSWORD}" in text
        for inputs in config["inputs"].get("mysql", []) + config["inputs"].get("redis", []):
            assert "${" in str(inputs.get("servers")) + str(inputs.get("password"))


def test_nginx_input_reads_stub_status_on_loopback_only():
    (nginx,) = telegraf_configs()["web1.prod.example.com"]["inputs"]["nginx"]
    assert nginx["urls"] == ["http://127.0.0.1:8081/nginx_status"]


def test_the_access_log_fields_telegraf_reads_are_the_ones_nginx_writes():
    # the names in nginx's log_format (templates/nginx/nginx.conf.j2) and in Telegraf's parser agree
    nginx_conf = (REPO / "templates/nginx/nginx.conf.j2").read_text().split("log_format stack_json")[1].split(";")[0]
    (tail,) = telegraf_configs()["web1.prod.example.com"]["inputs"]["tail"]
    names = [f["path"] for p in tail["json_v2"] for f in p["field"] + p["tag"]]
    assert names and all(f'"{name}":' in nginx_conf for name in names)


@pytest.mark.skipif(not shutil.which("telegraf"), reason="needs the telegraf binary: InfluxData's apt repository "
                    "is unreachable from these machines")
def test_telegraf_accepts_the_config(tmp_path):  # pragma: no cover - runs where telegraf is installed
    import subprocess
    for name, _ in telegraf_configs().items():
        path = tmp_path / f"{name}.conf"
        path.write_text(render_for(load_inventory("production"), name, "templates/telegraf/telegraf.conf.j2",
                                   tls=tls))
        subprocess.run(["telegraf", "--config", str(path), "--test", "--test-wait", "0"], check=True,
                       env={"INFLUXDB_WRITER_PASSWORD": "x", "MYSQL_MONITORING_PASSWORD": "x",
                            "REDIS_MONITORING_PASSWORD": "x"})
