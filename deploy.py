"""The full converge, in run order: `pyinfra -y inventories/<env>.py deploy.py`.

Each component is one task file run on the hosts of its group. Data comes from
group_data/ and the inventory; preflight (config.py) has already checked it.
"""

from pyinfra import host, local

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
