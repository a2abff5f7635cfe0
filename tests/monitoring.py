"""What the monitoring tests share (unit and e2e): what Telegraf and the ops flows
write, every query Grafana sends, and whether InfluxDB 2 is here to check against."""

import shutil
import subprocess
import tomllib

from stack import grafana, tls
from stack.hosttools.stack_influx.measurements import MEASUREMENTS
from tests.helpers import load_inventory, render_for

MONITORING_HOST = "mon1.prod.example.com"  # the production inventory's

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


def telegraf_configs() -> dict[str, dict]:
    """host -> telegraf.conf as rendered for each production host, parsed."""
    inv = load_inventory("production")
    return {h.name: tomllib.loads(render_for(inv, h.name, "templates/telegraf/telegraf.conf.j2", tls=tls))
            for h in inv}


def produced() -> dict[str, set[str]]:
    """measurement -> fields that Telegraf (as configured, on any host) and the ops flows write."""
    out = {m: set(spec["fields"]) for m, spec in MEASUREMENTS.items()}
    for config in telegraf_configs().values():
        for plugin, instances in config["inputs"].items():
            for instance in instances:
                if plugin == "tail":  # our own JSON log: the fields are the ones it names
                    fields = {f["path"] for parser in instance["json_v2"] for f in parser["field"]}
                    out.setdefault(instance["name_override"], set()).update(fields)
                else:
                    measurement, fields = TELEGRAF_FIELDS[plugin]
                    out.setdefault(measurement, set()).update(fields)
    return out


def grafana_queries(major):
    """(where, query) for every dashboard panel and alert rule Grafana is given."""
    for file, dash in grafana.dashboards(major, "metrics", "90d").items():
        for panel in dash["panels"]:
            for target in panel["targets"]:
                yield f"{file}: {panel['title']}", target["query"]
    for rule in grafana.alert_rules(major, "metrics", "90d", load_inventory("production").get_host(MONITORING_HOST).data)["groups"][0]["rules"]:
        yield f"alert {rule['title']}", rule["data"][0]["model"]["query"]


def influxd2() -> bool:
    return bool(shutil.which("influxd")) and "v2." in subprocess.run(["influxd", "version"], capture_output=True,
                                                                     text=True).stdout
