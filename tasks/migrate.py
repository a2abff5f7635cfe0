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
from pyinfra.operations import files, python, server

from stack import context, hostfacts, migration

runner = migration.runner()
# Only a host the run connected is asked (a --limit may leave the first app host out;
# asking one it did not connect hangs pyinfra).
in_run = runner in host.state.activated_hosts
status = hostfacts.app_status(on=runner) if in_run else hostfacts.NO_APP
current = status["current"] or None


def release() -> str:
    # asked when it runs: deploy.py's tasks/app.py builds the release while the app hosts are prepared
    return host.data.get("release") or context.current().release or current


# The plan, now if the release is already installed (a re-run, or this file alone, --dry
# included): a no-op run then has nothing to do, and a refusal stops it before anything
# runs. A release installed in this run is planned when it is there.
if host.name == runner.name and release() in status["installed"]:
    plan = runner.get_fact(Command,
                           command=f"stack-app plan {shlex.quote(release())} 2>/dev/null || echo null")
    if plan != "null":
        problem = migration.adopt(json.loads(plan), release(), host.data.backup_enabled)
        if problem:
            raise ValueError(problem)

is_web, is_primary, is_runner = "web_servers" in host.groups, migration.is_primary(), host.name == runner.name
is_replica = "db_servers" in host.groups and not is_primary
web = inventory.get_group("web_servers", [])
flag = web[0].data.nginx_maintenance_flag if web else "/nonexistent"
s = migration.current()

python.call(name="Migration plan (pending revisions, their SQL, the DDL lint)", function=migration.make_plan,
            release=release, _if=lambda: is_runner and s.plan is None)
python.call(name="Pre-migration backup on the primary (verified)", function=migration.back_up,
            _if=lambda: is_primary and s.needs_backup())
files.file(name="Maintenance on (a pending revision is breaking)", path=flag, present=True,
           _if=lambda: is_web and s.go() and s.breaking())
python.call(name="Migrations (alembic upgrade head, then --check-heads)", function=migration.migrate,
            _if=lambda: is_runner and s.go())
files.file(name="Maintenance on for the restore", path=flag, present=True,
           _if=lambda: is_web and s.needs_restore())
python.call(name="Pre-migration backup restored (the failed migration changed the schema)",
            function=migration.restore, _if=lambda: is_primary and s.needs_restore())
server.shell(name="Replica seeded again from the restored primary", commands=["stack-mysql replica --reseed"],
             _if=lambda: is_replica and bool(s.restored))
files.file(name="Maintenance off", path=flag, present=False,
           _if=lambda: is_web and (s.breaking() or s.needs_restore()) and s.restored is not False)
python.call(name="This run's backup key removed", function=migration.forget_key,
            _if=lambda: is_primary and s.backup_id is not None)
python.call(name="Migration recorded (deployment_record, audit_log, a migration point)",
            function=migration.record, _if=lambda: is_runner and s.pending())
python.call(name="Migration outcome", function=migration.outcome, _if=lambda: is_runner and bool(s.failed))
