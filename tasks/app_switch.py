"""The app hosts switched to the release tasks/app.py installed, one host at a time
behind the health gate (stack/rollout.py), once tasks/migrate.py applied its schema:
no host runs a release whose schema is not applied (alone, each host checks for
pending revisions itself and refuses). Then old releases are pruned. deploy.py
includes it last in the app tier."""

from pyinfra import host, local
from pyinfra.operations import server

from stack import context, rollout
from stack.shell import call

run = context.current()
if host.name not in run.planned:  # alone: what to switch to comes from tasks/app.py
    local.include("tasks/app.py")
planned = run.planned[host.name]
call(name="Switch to the release, one host at a time, behind the health gate",
     function=rollout.activate, release_id=planned.release_id, sudo=bool(host.data.get("_sudo")),
     _serial=True, _if=planned.switch)
server.shell(name="Old releases pruned", commands=["stack-app prune"], _if=lambda: planned.prune)
