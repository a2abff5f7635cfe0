"""The app on app_servers: its user, settings and units, and an artifact built once
on the controller, installed as a release beside the others. deploy.py then runs
the migration flow (tasks/migrate.py) and switches the hosts to the release one at
a time (tasks/app_switch.py)."""

from pathlib import Path

from pyinfra import host, inventory
from pyinfra.facts.server import Command
from pyinfra.operations import files, server, systemd

from stack import artifact, context, hostfacts, packages, programs, sandbox, secrets, services, tls, topology
from stack.configs import directories, file, render, secret_file
from stack.hosttools.stack_app.app import to_prune
from stack.shell import argv

name, root, port = host.data.app_name, host.data.app_root, host.data.app_port

# percona-toolkit: pt-online-schema-change, which online revisions run (migrations/online.py)
packages.present("Python for the app, and online schema changes", ["python3", "python3-venv", "percona-toolkit"])
# Its home is shared/, the one place it may write: the code it runs is root's.
# Checked with one cheap fact first: pyinfra's user operation lists every user (0.3-0.6 s).
if hostfacts.passwd(host.data.app_user) != {"home": f"{root}/shared", "shell": "/usr/sbin/nologin"}:
    server.user(name="App user", user=host.data.app_user, system=True, shell="/usr/sbin/nologin",
                home=f"{root}/shared", create_home=False)
user = host.data.app_user
directories((root, "0755", "root", user), (f"{root}/releases", "0755", "root", user),
            (f"{root}/shared", "0750", user, user), (f"{root}/shared/log", "0750", user, user),
            name="App root, releases, shared and logs")

primary = next(h for h in inventory.get_group("db_servers") if h.data.mysql_role == "primary")
replicas = topology.replicas()
cache = inventory.get_group("cache_servers")[0]
env = secret_file(
    name="App settings",
    dest=f"{root}/shared/app.env",
    content=render("templates/app/app.env.j2", primary=primary, cache=cache, tls=tls, user=host.data.mysql_app_user,
                   db_password=secrets.get("mysql_app_password"), redis_password=secrets.get("redis_app_password")),
    user=host.data.app_user,
    group=host.data.app_user,
)
units = [
    *[file(name=f"systemd {unit}", content=render(f"templates/app/app.{unit}.j2"),
           dest=f"/etc/systemd/system/{name}.{unit}")
      for unit in ("socket", "service")],
    # writes only its shared/ directory, keeps no capability; restarted by the switch
    sandbox.drop_in(name, write=[f"{root}/shared"], private_users=True, restart=False),
]
systemd.daemon_reload(name="systemd reload", _if=lambda: any(u.did_change() for u in units))
# The socket is what listens: restarts of the service queue connections, never refuse them.
services.kept(name="App socket", service=f"{name}.socket", running=True, enabled=True)

app_config = {
    "root": root, "service": name, "keep_releases": host.data.app_keep_releases,
    "health_url": f"http://{host.data.private_address}:{port}/health",
    "health_timeout": host.data.app_health_timeout,
    "migration_lock_wait": host.data.app_migration_lock_wait,
    # migrations/online.py's settings; it watches the first replica's lag
    "online": {"replica": replicas[0].data.private_address if replicas else "",
               "max_lag": host.data.app_migration_online_max_lag,
               "max_load": host.data.app_migration_online_max_load,
               "critical_load": host.data.app_migration_online_critical_load,
               "cutover_wait": host.data.app_migration_online_cutover_wait},
}
programs.install("stack-app", config_name="stack-app config", config_path="/etc/stack/app.json", config=app_config,
                 secret=False)
# The migration step's own database user (DDL): root's only, never the app's.
secret_file(
    name="Migration settings",
    dest="/etc/stack/app-migrate.env",
    content=render("templates/app/app.env.j2", primary=primary, cache=cache, tls=tls,
                   user=host.data.mysql_migration_user, db_password=secrets.get("mysql_migration_password"),
                   redis_password=None),
)

# -- the release -----------------------------------------------------------------------
status = hostfacts.app_status()
# The wheels are built for the Python the releases' venvs use (stack-app's, once it is there).
target = status["python"] or host.get_fact(Command, command="python3 -c \"import platform, sys; "
                                            "print('%d.%d' % sys.version_info[:2], platform.machine(), "
                                            "platform.libc_ver()[1])\"")
py_version, arch, glibc = target.split()
installed = status["installed"]
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
current = status["current"]
# The service also restarts (behind the same gate) when what it reads changed now, or
# changed in an earlier run that failed before the switch: it started before them.
stale = status["stale"]
context.current().planned[host.name] = context.Planned(
    release_id=release_id,
    # a new CA too: the app's TLS context is built once per process
    switch=lambda: current != release_id or stale or tls.renewed(host) or any(op.did_change() for op in [env, *units]),
    # what prune would remove once this release is live (it never removes the live one)
    prune=bool(to_prune(sorted({*installed, release_id}), release_id, current if current != release_id else
                        status["previous"], host.data.app_keep_releases)))
