"""Production: the seed's layout on Debian 13 (trixie): nginx in front of three app
servers, a MariaDB primary and replica, Redis, and a monitoring host.

The names below are placeholders: replace them with your hosts, or export the
PROD_* variables. ``private_address`` is the address on the private network that
services bind to and the firewall admits peers from.

Connection (group_data/all.py): SSH as the ``deploy`` user with sudo, with your
ssh-agent or ~/.ssh config. Secrets: STACK_SECRETS_FILE (docs/setup.md).
"""

from os import environ as _env

db_servers = [
    (_env.get("PROD_DB1", "db1.prod.example.com"),
     {"private_address": _env.get("PROD_DB1_IP", "10.10.1.11"), "mysql_role": "primary"}),
    (_env.get("PROD_DB2", "db2.prod.example.com"),
     {"private_address": _env.get("PROD_DB2_IP", "10.10.1.12"), "mysql_role": "replica"}),
]
cache_servers = [
    (_env.get("PROD_CACHE1", "cache1.prod.example.com"),
     {"private_address": _env.get("PROD_CACHE1_IP", "10.10.1.21")}),
]
app_servers = [
    (_env.get("PROD_APP1", "app1.prod.example.com"), {"private_address": _env.get("PROD_APP1_IP", "10.10.1.31")}),
    (_env.get("PROD_APP2", "app2.prod.example.com"), {"private_address": _env.get("PROD_APP2_IP", "10.10.1.32")}),
    (_env.get("PROD_APP3", "app3.prod.example.com"), {"private_address": _env.get("PROD_APP3_IP", "10.10.1.33")}),
]
web_servers = [
    (_env.get("PROD_WEB1", "web1.prod.example.com"), {"private_address": _env.get("PROD_WEB1_IP", "10.10.1.41")}),
]
monitoring_servers = [
    (_env.get("PROD_MON1", "mon1.prod.example.com"), {"private_address": _env.get("PROD_MON1_IP", "10.10.1.51")}),
]
