"""Redis on cache_servers: bound to the private address, TLS only, one ACL user per
role (admin, app, monitoring, replica), dangerous commands disabled, memory
capped; optionally a replica."""

import hashlib

from pyinfra import host, logger
from pyinfra.operations import server, systemd

from stack import packages, secrets, services, tls
from stack.configs import file, read, render, secret_file
from stack.hostfacts import container

packages.present("Redis", ["redis-server"])

services.member("Redis may read the TLS key", "redis", "ssl-cert")
services.kept(name="Redis running", service="redis-server", running=True, enabled=True)
# The users' passwords are in it as hashes; a replica's own password in plain: a secret file.
hashes = {role: hashlib.sha256(secrets.get(secret).encode()).hexdigest()
          for role, secret in [("admin", "redis_password"), ("app", "redis_app_password"),
                               ("monitoring", "redis_monitoring_password"), ("replica", "redis_replica_password")]}
config = secret_file(
    name="Redis config",
    dest="/etc/redis/redis.conf",
    content=render("templates/redis/redis.conf.j2", hashes=hashes, tls=tls,
                   replica_password=secrets.get("redis_replica_password")),
    mode="0640",
    group="redis",
    apply="systemctl restart redis-server",
)
tls.restart_on_renewal("redis-server", config)  # a new certificate is read at start

# Kernel settings Redis asks for. They belong to the machine, not to a container.
virt = container()
if virt:
    logger.warning(f"{host.name}: in a {virt} container, vm.overcommit_memory and transparent "
                   "hugepages are the machine's: not changed")
else:
    server.sysctl(name="vm.overcommit_memory=1 (background saves must not fail to fork)",
                  key="vm.overcommit_memory", value=1, persist=True,
                  persist_file="/etc/sysctl.d/60-redis.conf")
    thp = file(name="Transparent hugepages off at boot", content=read("files/redis/disable-thp.service"),
               dest="/etc/systemd/system/disable-thp.service")
    # did_change is read when the operation runs (a callable), never while the deploy is prepared.
    systemd.daemon_reload(name="systemd knows disable-thp", _if=thp.did_change)
    services.kept(name="Transparent hugepages off now", service="disable-thp", enabled=True, running=True)
