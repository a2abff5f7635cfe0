"""Migrate the schema: `pyinfra inventories/production.py tasks/migrate.py`, to the head
of the release the app hosts run (or `--data release=<id>`, installed on the first app
host). deploy.py includes this file between installing a release and switching to
it: the one migration flow (stack/migration.py says its steps). With --dry it shows
the pending revisions and their SQL and stops there.
"""

import json
import shlex

from pyinfra import host, inventory
from pyinfra.facts.server import Command
from pyinfra.operations import files, server

from stack import context, hostfacts, migration, topology
from stack.checks import Refused
from stack.shell import call

runner = migration.runner()
# Only a host the run connected is asked (a --limit may leave the first app host out;
# asking one it did not connect hangs pyinfra).
in_run = runner in host.state.activated_hosts
status = hostfacts.app_status(on=runner) if in_run else hostfacts.NO_APP
current = status["current"] or None


def release() -> str:
    # asked when it runs: deploy.py's tasks/app.py builds the release while the app hosts are prepared
    return host.data.get("release") or context.current().release or current


s = migration.current()
primary = topology.primary()
# An earlier run that died part-way left its journal on the primary: finished first (step 0).
if host.name == runner.name and in_run and primary in host.state.activated_hosts:
    journal = hostfacts.output(f"cat {migration.JOURNAL} 2>/dev/null || true", on=primary)
    if journal:
        journal = json.loads(journal)
        migration.resume(journal, json.loads(runner.get_fact(
            Command, command=f"stack-app plan {shlex.quote(journal['release'])}")),
            hostfacts.output("mariadb -N -e 'SELECT @@gtid_binlog_pos'", on=primary))

# The plan, now if the release is already installed (a re-run, or this file alone, --dry
# included): a no-op run then has nothing to do, and a refusal stops it before anything
# runs. A release installed in this run is planned when it is there.
if host.name == runner.name and release() in status["installed"] and not s.failed:
    plan = runner.get_fact(Command,
                           command=f"stack-app plan {shlex.quote(release())} 2>/dev/null || echo null")
    if plan != "null":
        problem = migration.adopt(json.loads(plan), release(), host.data.backup_enabled)
        if problem:
            raise Refused(problem)

is_web, is_primary, is_runner = "web_servers" in host.groups, host.name == primary.name, host.name == runner.name
is_replica = "db_servers" in host.groups and not is_primary
web = inventory.get_group("web_servers", [])
flag = web[0].data.nginx_maintenance_flag if web else "/nonexistent"

server.shell(name="Primary thawed (a run that died had frozen it)", commands=["stack-mysql thaw"],
             _if=lambda: is_primary and s.thaw_first)
call(name="Migration plan (pending revisions, their SQL, the DDL lint)", function=migration.make_plan,
     release=release, _if=lambda: is_runner and s.plan is None and not s.failed)
call(name="Pre-migration backup on the primary (verified)", function=migration.back_up,
     _if=lambda: is_primary and s.needs_backup())
files.file(name="Maintenance on (a pending revision is breaking)", path=flag, present=True,
           _if=lambda: is_web and s.go() and s.breaking())
call(name="Primary frozen: writes wait (503) until the migration ends", function=migration.freeze,
     _if=lambda: is_primary and s.go() and s.backup_id is not None and not s.online())
call(name="Migrations (alembic upgrade head, then --check-heads)", function=migration.migrate,
     _if=lambda: is_runner and s.go())
server.shell(name="Grants on the tables the migration made (a grant waits for its table)",
             commands=["stack-mysql accounts --apply"], _if=lambda: is_primary and s.go())
files.file(name="Maintenance on for the restore", path=flag, present=True,
           _if=lambda: is_web and s.needs_restore())
call(name="Pre-migration backup restored, and the writes up to the freeze replayed",
     function=migration.restore, _if=lambda: is_primary and s.needs_restore())
server.shell(name="Replica seeded again from the restored primary", commands=["stack-mysql replica --reseed"],
             _if=lambda: is_replica and s.reseed)
server.shell(name="Primary thawed", commands=["stack-mysql thaw"], _if=lambda: is_primary and s.needs_thaw())
files.file(name="Maintenance off", path=flag, present=False, _if=lambda: is_web and s.needs_maintenance_off())
call(name="This run's backup key and journal removed", function=migration.forget_key,
     _if=lambda: is_primary and s.backup_id is not None and s.restored is not False)
call(name="Migration recorded (deployment_record, audit_log, a migration point)",
     function=migration.record, _if=lambda: is_runner and s.pending())
call(name="Migration outcome", function=migration.outcome, _if=lambda: is_runner and bool(s.failed))
