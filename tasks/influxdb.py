"""InfluxDB on monitoring_servers, over HTTPS only (the internal CA's certificate),
set up by stack-influx over the HTTP API (secrets in request bodies and headers only).

influxdb_major 2 (production): InfluxData's signed repository. It is unreachable
from this project's own machines, so there that step fails loudly; it is never
skipped. influxdb_major 1: the distribution's package, what the testbed runs.
"""

from pyinfra import host
from pyinfra.facts.server import Command
from pyinfra.operations import server

from stack import metrics, packages, programs, sandbox, secrets, services, tls, vendor
from stack.configs import checked_template

# major -> (packages, config template, config file, check). influxd 1.x has no
# config check: parsing the file with `config` is what fails on a bad one.
VERSIONS = {
    1: (["influxdb", "influxdb-client"], "templates/influxdb/influxdb.conf.j2", "/etc/influxdb/influxdb.conf",
        "influxd config -config {path} >/dev/null"),
    2: (["influxdb2"], "templates/influxdb/config.toml.j2", "/etc/influxdb/config.toml",
        "INFLUXD_CONFIG_PATH={path} influxd print-config >/dev/null"),
}
major = host.data.influxdb_major
wanted, template, config, check = VERSIONS[major]

if major == 2:
    vendor.apt_repository(repo="influxdata", title="InfluxData", prefix="influxdb")
packages.present(f"InfluxDB {major}.x", wanted)
services.member("InfluxDB may read the TLS key", "influxdb", "ssl-cert")
config_op = checked_template(name="InfluxDB config", src=template, dest=config, check=check,
                             apply="systemctl restart influxdb && sleep 2", tls=tls)
services.kept(name="InfluxDB running", service="influxdb", running=True, enabled=True)
sandbox.drop_in("influxdb", write=["/var/lib/influxdb", "-/var/log/influxdb"])  # "-": 2.x logs to the journal only
tls.restart_on_renewal("influxdb", config_op)  # a new certificate is read at start

setup = {
    "major": major,
    "url": f"https://{host.data.private_address}:{host.data.influxdb_port}",
    "ca": tls.CA_CERT,
    "org": host.data.influxdb_org,
    "database": host.data.influxdb_bucket,
    "retention_days": host.data.influxdb_retention_days,
    "admin_user": host.data.influxdb_admin_user,
    "admin_password": secrets.get("influxdb_token"),
    "writer_user": host.data.influxdb_writer_user,
    "writer_password": secrets.get("influxdb_writer_password"),
    **metrics.notices(host.data, host),
}
desired = programs.install("stack-influx", config_name="InfluxDB desired state",
                           config_path="/etc/stack/influxdb.json", config=setup)
in_sync = host.get_fact(Command, command="stack-influx setup --check >/dev/null 2>&1 && echo yes || echo no")
server.shell(name="InfluxDB users, database and retention", commands=["stack-influx setup --apply"],
             _if=lambda: desired.did_change() or in_sync != "yes")
