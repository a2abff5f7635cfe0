"""Roll the app back: `pyinfra inventories/production.py tasks/rollback.py`, to the
release that ran before the current one, or to `--data release=<id>`.

One app host at a time, behind the health gate (a host that fails it is switched
back to what it ran, and the rollback stops there). Logged as `rollback` in each
host's revisions.log, in the audit_log table, and as a `rollback` point.

Refused before anything is touched: an unknown release id, a release that is not
installed on every app host, or app hosts that do not run the same release now
(without --data release=, "the previous one" would mean different things).
The schema stays as it is (releases are expand-first), unless `--data db=downgrade`:
then, after the app, alembic downgrades it to the revision the target release ships
with; across a destructive revision only with `--data backup_id=<id>` of a backup
that verifies (the data those revisions held is in it). Or `--data
restore_backup=<id>`: after the app, the database as that backup has it, through
the restore flow (tasks/restore.py: the identity, and in production the confirmation).
"""

import json
import shlex
import time

from pyinfra import host, inventory, local, logger
from pyinfra.facts.server import Command

from stack import context, hostfacts, metrics, rollout, topology
from stack.checks import Refused
from stack.shell import call, run_on

if host.data.get("db") and host.data.get("restore_backup"):
    raise Refused("--data db=downgrade and --data restore_backup= both put the database back: choose one")

# the app hosts this run connected (with --limit, those it names): only they are asked and switched
apps = [h for h in inventory.get_group("app_servers") if h in host.state.activated_hosts]
if not apps:
    raise Refused("no app host is in this run: nothing to roll back")
facts = {h.name: hostfacts.app_status(on=h) for h in apps}
target = host.data.get("release") or rollout.rollback_target(facts)  # its form is checked by preflight
if not host.data.get("release") and len({f["current"] for f in facts.values()}) > 1 and host.name == apps[0].name:
    logger.warning(f"--> the app hosts run different releases: a rollout or rollback stopped part-way; "
                   f"rolling back to {target}, which some already run")
missing = sorted(name for name, f in facts.items() if target not in f["installed"])
if missing:
    known = sorted(set.intersection(*(set(f["installed"]) for f in facts.values())))
    raise Refused(f"release {target} is not installed on {', '.join(missing)}; "
                     f"installed on every app host: {', '.join(known) or 'none'}")


# --data db=downgrade: the schema too, after the app (the release rolled back to runs
# on the newer schema: releases are expand-first), with the scripts of the release
# that ran, which know the newer revisions.
running = facts[apps[0].name]["current"]
downgrade = None
if host.data.get("db") == "downgrade":
    to = apps[0].get_fact(Command, command=f"stack-app head {shlex.quote(target)}")
    downgrade = json.loads(apps[0].get_fact(
        Command, command=f"stack-app plan {shlex.quote(running)} --down-to {shlex.quote(to)}"))
    downgrade["to"] = to
    lossy = [r["revision"] for r in downgrade["pending"] if r["destructive"]]
    backup = host.data.get("backup_id")
    if lossy and not backup:
        raise Refused(f"downgrading the schema to {to} undoes destructive revisions ({', '.join(lossy)}): "
                         "their data would be lost. Name the backup to restore it from with --data backup_id=<id>, "
                         "or roll back the app only")
    source = topology.backup_source()
    if lossy and source not in host.state.activated_hosts:
        raise Refused(f"the backup source {source.name} must be in the run to verify backup {backup}")
    verified = source.get_fact(Command, command=f"stack-backup verify {shlex.quote(backup)} >/dev/null 2>&1 "
                                                "&& echo ok || echo bad") if lossy else "ok"
    if verified != "ok":
        raise Refused(f"backup {backup} does not exist or does not verify: the downgrade is refused")


def downgrade_schema():
    run_on(host, "stack-app", "downgrade", running, downgrade["to"],
           what="the app is rolled back, but the schema downgrade failed")


def record():
    """Once every app host switched: the rows in the app database, with the time taken."""
    detail = f"from {facts[host.name]['current'] or 'none'}" + (
        f"; schema downgraded to {downgrade['to']}" if downgrade and downgrade["pending"] else "")
    run_on(host, "stack-app", "record", "rollback", target, "--success", "1", "--duration",
           f"{time.monotonic() - context.current().started:.1f}", "--detail", detail,
           what="the rollback is done, but its record failed")

metrics.record_run("rollback", release=lambda: target)
if "app_servers" in host.groups:
    call(name=f"Roll back to {target}, one host at a time, behind the health gate",
         function=rollout.activate, release_id=target, sudo=bool(host.data.get("_sudo")),
         action="rollback", _serial=True, _if=lambda: facts[host.name]["current"] != target)
    call(name=f"Schema downgraded to {downgrade['to'] if downgrade else '-'} (alembic downgrade)",
         function=downgrade_schema,
         _if=lambda: host.name == apps[0].name and bool(downgrade and downgrade["pending"]))
    call(name="Rollback recorded (deployment_record, audit_log)", function=record,
         _if=lambda: host.name == apps[0].name and facts[host.name]["current"] != target)
# --data restore_backup=<id>: then the database as that backup has it (the restore flow).
if host.data.get("restore_backup"):
    local.include("tasks/restore.py")
