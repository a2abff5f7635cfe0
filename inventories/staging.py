"""Staging: the smallest layout with every path of production (a primary and a
replica, two app servers behind nginx), as CI applies it.

The names below are placeholders: replace them with your hosts, or export the
STAGING_* variables. Connection (group_data/staging.py): SSH as ``deploy`` with
sudo. Secrets: STACK_SECRETS_FILE (docs/setup.md).
"""

from os import environ as _env

db_servers = [
    (_env.get("STAGING_DB1", "db1.staging.example.com"),
     {"private_address": _env.get("STAGING_DB1_IP", "10.20.1.11"), "mysql_role": "primary"}),
    (_env.get("STAGING_DB2", "db2.staging.example.com"),
     {"private_address": _env.get("STAGING_DB2_IP", "10.20.1.12"), "mysql_role": "replica"}),
]
app_servers = [
    (_env.get("STAGING_APP1", "app1.staging.example.com"), {"private_address": _env.get("STAGING_APP1_IP", "10.20.1.31")}),
    (_env.get("STAGING_APP2", "app2.staging.example.com"), {"private_address": _env.get("STAGING_APP2_IP", "10.20.1.32")}),
]
# One front host carries nginx, Redis and monitoring, as on the testbed.
_front = (_env.get("STAGING_WEB1", "web1.staging.example.com"), {"private_address": _env.get("STAGING_WEB1_IP", "10.20.1.41")})
web_servers = [_front]
cache_servers = [_front]
monitoring_servers = [_front]
