"""The full converge, in run order: `pyinfra -y inventories/<env>.py deploy.py`.

Each component is one task file run on the hosts of its group. Data comes from
group_data/ and the inventory; preflight (config.py) has already checked it.
"""

from pyinfra import host, inventory, local
from pyinfra.operations import python

from stack import metrics

local.include("tasks/base.py")

# Data tier first: everything above it connects to it.
if {"db_servers", "app_servers"} & set(host.groups):  # the server, or the client
    local.include("tasks/mysql.py")
if "cache_servers" in host.groups:
    local.include("tasks/redis.py")

# App tier: releases switched in one host at a time, behind the health gate.
if "app_servers" in host.groups:
    local.include("tasks/app.py")

# The front: nginx over TLS, load-balancing every app server.
if "web_servers" in host.groups:
    local.include("tasks/nginx.py")

# Monitoring: InfluxDB first, then what reads it (Grafana) and what writes to it
# (Telegraf, on every host).
if "monitoring_servers" in host.groups:
    local.include("tasks/influxdb.py")
    if host.data.grafana_enabled:
        local.include("tasks/grafana.py")
if host.data.telegraf_enabled:
    local.include("tasks/telegraf.py")

# Last: the run itself, as a `deployment` point (duration, success, release). It
# records the run rather than changing a host, yet pyinfra counts it as a change.
if host == inventory.get_group("monitoring_servers", [None])[0]:
    python.call(name="Deployment recorded in the ops metrics", function=metrics.record_deployment,
                sudo=bool(host.data.get("_sudo")))
