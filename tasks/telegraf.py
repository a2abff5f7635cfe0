"""Telegraf on every host (when telegraf_enabled): system metrics everywhere,
MySQL on db_servers, Redis on cache_servers, nginx (stub_status and the JSON
access log) on web_servers, written to InfluxDB as the write-only writer.

The package comes from InfluxData's signed repository, unreachable from this
project's own machines: there the run fails at the download, loudly (the
testbed turns Telegraf off instead, see group_data/testbed.py).
"""

from pyinfra import host
from pyinfra.operations import systemd
from pyinfra.operations.util import any_changed

from stack import packages, secrets, services, tls, vendor
from stack.configs import file, render, secret_file

vendor.apt_repository(repo="influxdata", title="InfluxData", prefix="influxdb")
packages.present("Telegraf", ["telegraf"])
if "web_servers" in host.groups:
    services.member("Telegraf may read nginx's logs", "telegraf", "adm")

environment = {"INFLUXDB_WRITER_PASSWORD": secrets.get("influxdb_writer_password")}
if "db_servers" in host.groups:
    environment["MYSQL_MONITORING_PASSWORD"] = secrets.get("mysql_monitoring_password")
if "cache_servers" in host.groups:
    environment["REDIS_MONITORING_PASSWORD"] = secrets.get("redis_monitoring_password")
changes = [
    secret_file(name="Telegraf secrets (environment)", dest="/etc/default/telegraf",
                content="".join(f"{k}={v}\n" for k, v in sorted(environment.items()))),
    file(name="Telegraf config", dest="/etc/telegraf/telegraf.conf",
         content=render("templates/telegraf/telegraf.conf.j2", tls=tls)),
]
services.kept(name="Telegraf running", service="telegraf", running=True, enabled=True)
config_changed = any_changed(*changes)
systemd.service(name="Telegraf restarted for the new config", service="telegraf", restarted=True,
                _if=lambda: config_changed() or tls.renewed(host))  # a new CA is read at start
