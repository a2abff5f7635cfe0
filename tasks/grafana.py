"""Grafana on monitoring_servers (when grafana_enabled): from Grafana's signed
apt repository, bound to the private address and served by nginx under
/grafana/. Datasource, dashboards, alert rules and contact points are
provisioned from files; nothing is clicked together in the UI.

The admin password and the secret key live in root:grafana 0640 files that
grafana.ini reads ($__file{}); a changed password is applied with
`grafana-cli admin reset-admin-password --password-from-stdin`, so it is never
on a command line. Grafana's repository is unreachable from this project's own
machines: there the run fails at the download, loudly (the testbed turns
Grafana off instead, see group_data/testbed.py).
"""

import json

import yaml
from pyinfra import host, inventory
from pyinfra.operations import files, systemd
from pyinfra.operations.util import any_changed

from stack import grafana, packages, secrets, services, vendor
from stack.configs import file, render, secret_file

PROVISIONING = "/etc/grafana/provisioning"
DASHBOARDS = "/var/lib/grafana/dashboards"
major, bucket = host.data.influxdb_major, host.data.influxdb_bucket
rp = f"{host.data.influxdb_retention_days}d"
web = inventory.get_group("web_servers", [])
server_name = web[0].data.nginx_server_name if web else host.data.private_address

vendor.apt_repository(repo="grafana", title="Grafana", prefix="grafana")
packages.present("Grafana", ["grafana"])


def grafana_secret(name, dest, content, **kwargs):
    return secret_file(name=name, dest=dest, content=content, mode="0640", group="grafana", **kwargs)


changes = [
    # Until Grafana's database exists the first start creates the admin from this
    # file; afterwards a change is applied to the database (and retried until it was).
    grafana_secret("Grafana admin password", "/etc/grafana/admin_password", secrets.get("grafana_admin_password"),
                   apply="test ! -e /var/lib/grafana/grafana.db || grafana-cli --homepath /usr/share/grafana "
                         "--config /etc/grafana/grafana.ini admin reset-admin-password --password-from-stdin "
                         "< /etc/grafana/admin_password"),
    grafana_secret("Grafana secret key", "/etc/grafana/secret_key", secrets.get("grafana_secret_key")),
    file(name="grafana.ini", content=render("templates/grafana/grafana.ini.j2", server_name=server_name),
         dest="/etc/grafana/grafana.ini", mode="0640", group="grafana"),
    grafana_secret("Grafana datasource", f"{PROVISIONING}/datasources/stack.yaml", render(
        "templates/grafana/datasource.yaml.j2", uid=grafana.DATASOURCE_UID, token=secrets.get("influxdb_token"),
        url=f"https://{host.data.private_address}:{host.data.influxdb_port}", ca_cert=secrets.get("tls_ca_cert"))),
    file(name="Grafana dashboard provider", dest=f"{PROVISIONING}/dashboards/stack.yaml",
         content=render("templates/grafana/dashboards.yaml.j2", folder=grafana.FOLDER, path=DASHBOARDS)),
    files.directory(name="Grafana dashboards directory", path=DASHBOARDS, mode="0755"),
    *[file(name=f"Dashboard {name}", content=json.dumps(dash, indent=1, sort_keys=True), dest=f"{DASHBOARDS}/{name}")
      for name, dash in grafana.dashboards(major, bucket, rp).items()],
    file(name="Grafana alert rules", content=yaml.safe_dump(grafana.alert_rules(major, bucket, rp, host.data),
                                                            sort_keys=False),
         dest=f"{PROVISIONING}/alerting/stack-rules.yaml"),
    grafana_secret("Grafana contact points", f"{PROVISIONING}/alerting/stack-contact-points.yaml", render(
        "templates/grafana/contact-points.yaml.j2", timing=grafana.TIMING, points=grafana.contact_points(
            grafana.channels(host.data.grafana_alert_emails, lambda name: secrets.lookup(name, host.data.get("secrets_file")))))),
]
# Provisioning is read at start: any change restarts Grafana.
services.kept(name="Grafana running", service="grafana-server", running=True, enabled=True)
systemd.service(name="Grafana restarted for the new config", service="grafana-server", restarted=True,
                _if=any_changed(*changes))
