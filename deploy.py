"""The full converge, in run order: `pyinfra -y inventories/<env>.py deploy.py`.

Each component is one task file run on the hosts of its group. Data comes from
group_data/ and the inventory; preflight (config.py) has already checked it.
"""

from pyinfra import host, local

from stack import metrics, rollout

# The run itself is recorded once it is over, as a `deployment` point (duration,
# success, release), failed runs included: a record, not an operation.
metrics.record_run()

local.include("tasks/base.py")
# The internal CA's certificate everywhere, a key and certificate where a host serves others.
local.include("tasks/tls.py")

# Data tier first: everything above it connects to it.
if {"db_servers", "app_servers"} & set(host.groups):  # the server, or the client
    local.include("tasks/mysql.py")
if "cache_servers" in host.groups:
    local.include("tasks/redis.py")
if "db_servers" in host.groups and host.data.backup_enabled:
    local.include("tasks/backup_schedule.py")

# A barrier: the data tier has finished on every host before any app host goes on.
rollout.data_tier_barrier()

# App tier: the release installed beside the others; its pending migrations (the one
# migration flow: plan, backup, maintenance if breaking, migrate, verify, or restore);
# then the hosts switched to it one at a time, behind the health gate.
if "app_servers" in host.groups:
    local.include("tasks/app.py")
local.include("tasks/migrate.py")
if "app_servers" in host.groups:
    local.include("tasks/app_switch.py")

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

# Last, over what the packages above installed: their logs rotated, the journal capped,
# the week's logs archived.
local.include("tasks/logs.py")
