"""The app on app_servers: its user, settings and units, and an artifact built once
on the controller, installed as a release beside the others. deploy.py then runs
the migration flow (tasks/migrate.py) and switches the hosts to the release one at
a time (tasks/app_switch.py)."""

import json
from io import StringIO
from pathlib import Path

from pyinfra import host, inventory
from pyinfra.facts.server import Command
from pyinfra.operations import files, server, systemd

from stack import artifact, packages, rollout, sandbox, secrets, tls
from stack.configs import render, secret_file
from stack.shell import argv

name, root, port = host.data.app_name, host.data.app_root, host.data.app_port

packages.present("Python for the app", ["python3", "python3-venv"])
# Its home is shared/, the one place it may write: the code it runs is root's.
server.user(name="App user", user=host.data.app_user, system=True, shell="/usr/sbin/nologin",
            home=f"{root}/shared", create_home=False)
files.directory(name="App root", path=root, user="root", group=host.data.app_user, mode="0755")
files.directory(name="Releases", path=f"{root}/releases", user="root", group=host.data.app_user, mode="0755")
files.directory(name="Shared", path=f"{root}/shared", user=host.data.app_user, group=host.data.app_user,
                mode="0750")
files.directory(name="Logs", path=f"{root}/shared/log", user=host.data.app_user, group=host.data.app_user,
                mode="0750")

primary = next(h for h in inventory.get_group("db_servers") if h.data.mysql_role == "primary")
cache = inventory.get_group("cache_servers")[0]
env = secret_file(
    name="App settings",
    dest=f"{root}/shared/app.env",
    content=render("templates/app/app.env.j2", primary=primary, cache=cache, tls=tls, user=host.data.mysql_app_user,
                   db_password=secrets.get("mysql_app_password"), redis_password=secrets.get("redis_app_password")),
    user=host.data.app_user,
    group=host.data.app_user,
)
# The migration step's own database user (DDL): root's only, never the app's.
files.directory(name="stack config directory", path="/etc/stack", mode="0700")
secret_file(
    name="Migration settings",
    dest="/etc/stack/app-migrate.env",
    content=render("templates/app/app.env.j2", primary=primary, cache=cache, tls=tls,
                   user=host.data.mysql_migration_user, db_password=secrets.get("mysql_migration_password"),
                   redis_password=None),
)

units = [
    *[files.template(name=f"systemd {unit}", src=f"templates/app/app.{unit}.j2",
                     dest=f"/etc/systemd/system/{name}.{unit}")
      for unit in ("socket", "service")],
    # writes only its shared/ directory, keeps no capability; restarted by the switch
    sandbox.drop_in(name, write=[f"{root}/shared"], private_users=True, restart=False),
]
systemd.daemon_reload(name="systemd reload", _if=lambda: any(u.did_change() for u in units))
# The socket is what listens: restarts of the service queue connections, never refuse them.
systemd.service(name="App socket", service=f"{name}.socket", running=True, enabled=True)

files.put(name="stack-app program", src="stack/hosttools/stack_app.py", dest="/usr/local/sbin/stack-app",
          mode="0755")
app_config = {
    "root": root, "service": name, "keep_releases": host.data.app_keep_releases,
    "health_url": f"http://{host.data.private_address}:{port}/health",
    "health_timeout": host.data.app_health_timeout,
    "migration_lock_wait": host.data.app_migration_lock_wait,
}
files.put(name="stack-app config", src=StringIO(json.dumps(app_config, indent=1, sort_keys=True)),
          dest="/etc/stack/app.json", mode="0644")

# -- the release -----------------------------------------------------------------------
target = host.get_fact(Command, command="python3 -c \"import platform, sys; "
                       "print('%d.%d' % sys.version_info[:2], platform.machine(), platform.libc_ver()[1])\"")
py_version, arch, glibc = target.split()
installed = (host.get_fact(Command, command="stack-app releases 2>/dev/null || true") or "").split()
release_id, tarball = artifact.build(Path(host.data.app_source), Path(host.data.app_migrations), py_version,
                                     arch, glibc, installed)
new_release = release_id not in installed

# Both steps follow "not installed", never the upload's own change: an install that
# was interrupted leaves the artifact behind, and the next run must install it.
artifact_path = f"{root}/releases/{release_id}.tar.gz"
files.put(name="Release artifact", src=str(tarball), dest=artifact_path, mode="0600", _if=lambda: new_release)
server.shell(name="Release installed (offline venv)",
             commands=[argv("stack-app", "install", release_id, artifact_path)],
             _if=lambda: new_release)

# What tasks/app_switch.py needs once tasks/migrate.py has run (deploy.py's order).
current = host.get_fact(Command, command="stack-app current 2>/dev/null || true")
# The service also restarts (behind the same gate) when what it reads changed now, or
# changed in an earlier run that failed before the switch: it started before them.
stale = host.get_fact(Command, command="stack-app stale 2>/dev/null || echo stale") == "stale"
rollout.planned[host.name] = rollout.Planned(
    release_id=release_id,
    # a new CA too: the app's TLS context is built once per process
    switch=lambda: current != release_id or stale or tls.renewed(host) or any(op.did_change() for op in [env, *units]),
    prune=len(installed) + new_release > host.data.app_keep_releases)
