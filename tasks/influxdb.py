"""InfluxDB on monitoring_servers. influxdb_major 1 (the distribution's package,
what the testbed runs) is set up by stack-influx over the HTTP API, secrets in
request bodies only. influxdb_major 2 comes from InfluxData's repository, which
is unreachable from these machines: that step fails loudly there, it is never
skipped (the testbed sets influxdb_major = 1 instead)."""

import json

from pyinfra import host
from pyinfra.facts.server import Command
from pyinfra.operations import apt, files, server, systemd

from stack import secrets
from stack.configs import checked_template, secret_file

if host.data.influxdb_major != 1:
    raise NotImplementedError(
        f"{host.name}: influxdb_major = 2 is not built yet (InfluxData's repository); set influxdb_major = 1")

apt.packages(name="InfluxDB 1.x", packages=["influxdb", "influxdb-client"], update=True, cache_time=3600,
             no_recommends=True)
systemd.service(name="InfluxDB running", service="influxdb", running=True, enabled=True)
checked_template(
    name="InfluxDB config",
    src="templates/influxdb/influxdb.conf.j2",
    dest="/etc/influxdb/influxdb.conf",
    # influxd has no config check: parsing it with `config` is what fails on a bad file
    check="influxd config -config {path} >/dev/null",
    apply="systemctl restart influxdb && sleep 2",
)

days = host.data.influxdb_retention_days
files.directory(name="stack config directory", path="/etc/stack", mode="0700")
files.put(name="stack-influx program", src="stack/hosttools/stack_influx.py", dest="/usr/local/sbin/stack-influx",
          mode="0755")
desired = secret_file(name="InfluxDB desired state", dest="/etc/stack/influxdb.json", content=json.dumps({
    "url": f"http://{host.data.private_address}:{host.data.influxdb_port}",
    "database": host.data.influxdb_bucket,
    "retention_policy": f"{days}d",
    "retention": f"{days}d",
    "retention_shown": f"{days * 24}h0m0s",
    "admin_user": host.data.influxdb_admin_user,
    "admin_password": secrets.get("influxdb_token"),
    "writer_user": host.data.influxdb_writer_user,
    "writer_password": secrets.get("influxdb_writer_password"),
}, indent=1, sort_keys=True))
in_sync = host.get_fact(Command, command="stack-influx setup --check >/dev/null 2>&1 && echo yes || echo no")
server.shell(name="InfluxDB users, database and retention", commands=["stack-influx setup --apply"],
             _if=lambda: desired.did_change() or in_sync != "yes")
