"""One production host of every role, for `pyinfra --dry` only: a chroot of the
testbed's Debian 12 rootfs (STACK_DRY_ROOT), which, unlike the testbed's hosts,
is not a container. So every task file's production branches (kernel settings,
time sync) are prepared with production's data, as the deploy user with sudo.
It is named production so that group_data/production.py applies, exactly as for
the real inventory. Used by tests/e2e/test_production_paths.py."""

from os import environ as _env

_host = (f"@chroot/{_env.get('STACK_DRY_ROOT', 'unset')}", {"private_address": "127.0.0.1", "mysql_role": "primary"})
db_servers = [_host]
cache_servers = [_host]
app_servers = [_host]
web_servers = [_host]
monitoring_servers = [_host]
