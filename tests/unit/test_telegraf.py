"""templates/telegraf/telegraf.conf.j2, rendered for the production inventory.
Telegraf itself can't be installed here (InfluxData's repository is
unreachable), so what needs its binary is skipped; the rest is checked as TOML.

TELEGRAF_FIELDS is what Telegraf's own READMEs document each input writes (the
measurement and the fields our dashboards may use). tests/unit/test_grafana.py
checks every panel and alert against ``produced()``.
"""

import shutil
import tomllib

import pytest

from stack.hosttools.stack_influx.measurements import MEASUREMENTS
from stack import tls
from tests.helpers import REPO, load_inventory, render_for

# input plugin -> (measurement, documented fields), from plugins/inputs/<name>/README.md
TELEGRAF_FIELDS = {
    "cpu": ("cpu", {"usage_user", "usage_system", "usage_idle", "usage_iowait", "usage_steal"}),
    "mem": ("mem", {"used_percent", "available_percent", "used", "total", "available"}),
    "swap": ("swap", {"used_percent", "used", "total"}),
    "system": ("system", {"load1", "load5", "load15", "n_cpus", "uptime"}),
    "disk": ("disk", {"used_percent", "used", "free", "total"}),
    "diskio": ("diskio", {"reads", "writes", "read_bytes", "write_bytes", "io_time"}),
    "net": ("net", {"bytes_recv", "bytes_sent", "err_in", "err_out"}),
    "processes": ("processes", {"running", "sleeping", "zombies", "total"}),
    # metric_version 2: SHOW GLOBAL STATUS names, lower case
    "mysql": ("mysql", {"threads_connected", "threads_running", "queries", "questions", "slow_queries",
                        "connections", "aborted_connects"}),
    "redis": ("redis", {"used_memory", "connected_clients", "keyspace_hits", "keyspace_misses", "evicted_keys"}),
    "nginx": ("nginx", {"active", "accepts", "handled", "requests", "reading", "writing", "waiting"}),
}


def configs():
    inv = load_inventory("production")
    return {h.name: tomllib.loads(render_for(inv, h.name, "templates/telegraf/telegraf.conf.j2", mariadb=True,
                                                tls=tls))
            for h in inv}


def produced() -> dict[str, set[str]]:
    """measurement -> fields that Telegraf (as configured, on any host) and the ops flows write."""
    out = {m: set(spec["fields"]) for m, spec in MEASUREMENTS.items()}
    for config in configs().values():
        for plugin, instances in config["inputs"].items():
            for instance in instances:
                if plugin == "tail":  # our own JSON log: the fields are the ones it names
                    fields = {f["path"] for parser in instance["json_v2"] for f in parser["field"]}
                    out.setdefault(instance["name_override"], set()).update(fields)
                else:
                    measurement, fields = TELEGRAF_FIELDS[plugin]
                    out.setdefault(measurement, set()).update(fields)
    return out


def test_every_host_sends_system_metrics_to_every_monitoring_host():
    for name, config in configs().items():
        assert {"cpu", "mem", "disk", "system"} <= set(config["inputs"]), name
        (output,) = config["outputs"]["influxdb"]
        assert output["urls"] == ["https://10.10.1.51:8086"] and output["tls_ca"] == tls.CA_CERT
        assert output["database"] == "metrics" and output["retention_policy"] == "90d"


def test_cpu_input_writes_the_cpu_total_series_the_panels_filter_on():
    (cpu,) = configs()["app1.prod.example.com"]["inputs"]["cpu"]
    assert cpu["totalcpu"] is True


def test_each_role_gets_its_own_input():
    c = configs()
    assert set(c["db1.prod.example.com"]["inputs"]) & {"mysql", "redis", "nginx"} == {"mysql"}
    assert set(c["cache1.prod.example.com"]["inputs"]) & {"mysql", "redis", "nginx"} == {"redis"}
    assert set(c["web1.prod.example.com"]["inputs"]) & {"mysql", "redis", "nginx", "tail"} == {"nginx", "tail"}


def test_redis_is_read_over_tls_as_the_monitoring_user():
    (redis,) = configs()["cache1.prod.example.com"]["inputs"]["redis"]
    assert (redis["username"], redis["password"], redis["tls_ca"]) == (
        "monitor", "${REDIS_MONITORING_PASSWORD}", tls.CA_CERT)


def test_no_secret_is_in_the_config_only_environment_references():
    for config in configs().values():
        text = str(config)
        assert "${INFLUXDB_WRITER_PASSWORD}" in text
        for inputs in config["inputs"].get("mysql", []) + config["inputs"].get("redis", []):
            assert "${" in str(inputs.get("servers")) + str(inputs.get("password"))


def test_nginx_input_reads_stub_status_on_loopback_only():
    (nginx,) = configs()["web1.prod.example.com"]["inputs"]["nginx"]
    assert nginx["urls"] == ["http://127.0.0.1:8081/nginx_status"]


def test_the_access_log_fields_telegraf_reads_are_the_ones_nginx_writes():
    # the names in nginx's log_format (templates/nginx/nginx.conf.j2) and in Telegraf's parser agree
    nginx_conf = (REPO / "templates/nginx/nginx.conf.j2").read_text().split("log_format stack_json")[1].split(";")[0]
    (tail,) = configs()["web1.prod.example.com"]["inputs"]["tail"]
    names = [f["path"] for p in tail["json_v2"] for f in p["field"] + p["tag"]]
    assert names and all(f'"{name}":' in nginx_conf for name in names)


@pytest.mark.skipif(not shutil.which("telegraf"), reason="needs the telegraf binary: InfluxData's apt repository "
                    "is unreachable from these machines")
def test_telegraf_accepts_the_config(tmp_path):  # pragma: no cover - runs where telegraf is installed
    import subprocess
    for name, _ in configs().items():
        path = tmp_path / f"{name}.conf"
        path.write_text(render_for(load_inventory("production"), name, "templates/telegraf/telegraf.conf.j2",
                                   mariadb=True, tls=tls))
        subprocess.run(["telegraf", "--config", str(path), "--test", "--test-wait", "0"], check=True,
                       env={"INFLUXDB_WRITER_PASSWORD": "x", "MYSQL_MONITORING_PASSWORD": "x",
                            "REDIS_MONITORING_PASSWORD": "x"})
