"""The one migration flow: tasks/migrate.py declares it, deploy.py includes that file
between installing a release and switching to it. One run's state (``current()``,
in the run's context) is shared by every host's operations.

In order, each step a shared operation skipped where it does not apply:
 1. plan, on the first app host: the pending revisions, what they declare, their
    offline SQL and the DDL lint (stack/ddl.py); a refusal here touches nothing;
 2. a pre-migration backup on the db primary (unless the schema is empty), physical, verified, encrypted to the
    backups' recipient and to a key made for this run only, which sits in /run
    on the primary and is removed at the end (a restore needs no operator);
 3. maintenance on, if a pending revision is breaking;
 4. alembic upgrade head, once, from the first app host (lock-wait timeout), then
    --check-heads;
 5. on failure, if the schema changed: maintenance on, the backup restored on the
    primary, the replicas seeded again, maintenance off (it stays on only if the
    restore failed);
 6. maintenance off; deployment_record and audit_log rows; a `migration` point;
 7. the outcome: a failed migration fails the run with what happened and the state
    of every tier, and no app host switches (stack/rollout.py asks ``allows``).
"""

from __future__ import annotations

import json
import re
import time

from pyinfra import host, inventory, logger

from stack import context, ddl, metrics, topology
from stack.shell import argv, run_on

RUN_DIR = "/run/stack-migrate"  # tmpfs on the primary: this run's key


class Run:
    def __init__(self):
        self.release: str | None = None
        self.plan: dict | None = None  # stack-app plan, once the first app host made it
        self.failed: str | None = None  # what went wrong, said once
        self.backup_id: str | None = None
        self.ddl_ran = False
        self.restored: bool | None = None
        self.started = time.monotonic()

    def pending(self) -> bool:
        return bool(self.plan and self.plan["pending"])

    def go(self) -> bool:
        return self.pending() and not self.failed

    def needs_backup(self) -> bool:
        """An empty database (no revision yet) holds nothing to lose."""
        return self.go() and self.plan["current"] is not None

    def breaking(self) -> bool:
        return self.pending() and any(r["breaking"] for r in self.plan["pending"])

    def needs_restore(self) -> bool:
        return bool(self.failed and self.ddl_ran and self.backup_id)


def current() -> Run:
    """This run's migration, kept in the run's context."""
    run = context.current()
    if run.migration is None:
        run.migration = Run()
    return run.migration


def runner():
    """The app host migrations run from."""
    return inventory.get_group("app_servers")[0]


def describe(plan: dict) -> str:
    lines = [f"schema at {plan['current'] or 'nothing'}; head {plan['head']}; pending:"]
    lines += [f"  {r['revision']} {r['doc']}" + (" [breaking]" if r["breaking"] else "") +
              (" [destructive]" if r["destructive"] else "") for r in plan["pending"]]
    return "\n".join(lines + ["offline SQL:", plan["sql"].strip()])


def adopt(plan: dict, release: str, backups: bool) -> str | None:
    """The plan for this run: logged, and checked. Returns why nothing may run, if so."""
    run = current()
    run.release, run.plan = release, plan
    if not run.pending():
        logger.info(f"--> release {release}: no pending revisions")
        return None
    logger.info(f"--> release {release}: {describe(plan)}")
    intended = {r["revision"]: set(r["intended"]) for r in plan["pending"]}
    risky = ddl.lint(plan["sql"], intended)
    if risky:
        return ("refused before anything was touched: risky DDL that its revision does not declare "
                "(add the rule to the revision's `intended` if it is meant):\n  " + "\n  ".join(risky))
    if not backups and plan["current"] is not None:
        return "refused before anything was touched: backups are off (backup_enabled), and no migration runs " \
               "on a schema in use without a pre-migration backup"
    return None


def make_plan(release):
    """Step 1 when the release was installed in this run, on the first app host."""
    run = current()
    plan = json.loads(run_on(host, "stack-app", "plan", release(), what="the migration plan"))
    run.failed = adopt(plan, release(), host.data.backup_enabled)


def back_up():
    """Step 2, on the primary."""
    run = current()
    try:
        run_on(host, "install", "-d", "-m", "0700", RUN_DIR, what=f"making {RUN_DIR}")
        run_on(host, "age-keygen", "-o", f"{RUN_DIR}/identity", what="making this run's key")
        public = run_on(host, "age-keygen", "-y", f"{RUN_DIR}/identity", what="reading this run's key").strip()
        out = run_on(host, "stack-backup", "run", "--method", "physical", "--extra-recipient", public,
                 what="the pre-migration backup")
        run.backup_id = re.findall(r"backup (\d{8}T\d{6}Z): ", out)[-1]
        run_on(host, "stack-backup", "verify", run.backup_id, what="verifying the pre-migration backup")
    except Exception as e:
        run.failed = f"refused before anything was touched: {e}"


def migrate():
    """Step 4, on the first app host."""
    run = current()
    try:
        run_on(host, "stack-app", "migrate", run.release, what="the migration")
    except Exception as e:
        run.failed = f"the migration failed: {e}"
        try:
            after = json.loads(run_on(host, "stack-app", "plan", run.release, what="the schema after the failure"))
            run.ddl_ran = after["schema"] != run.plan["schema"]
        except Exception:  # can't tell: assume it changed, and restore
            run.ddl_ran = True


def restore():
    """Step 5, on the primary: the pre-migration backup, with this run's key."""
    run = current()
    try:
        run_on(host, "stack-backup", "stage", run.backup_id, "--identity", f"{RUN_DIR}/identity",
           what="staging the pre-migration backup")
        run_on(host, "stack-backup", "swap", what="restoring the pre-migration backup")
        run.restored = True
    except Exception as e:
        run.restored = False
        run.failed += f"; THE RESTORE FAILED TOO: {e}"


def forget_key():
    run_on(host, "rm", "-rf", RUN_DIR, what=f"removing {RUN_DIR}")


def record():
    """Step 6, on the first app host: the rows and the point, whatever the outcome."""
    run = current()
    success, seconds = not run.failed, time.monotonic() - run.started
    to = run.plan["head"] if success else run.plan["current"]
    try:
        run_on(host, "stack-app", "record", "migrate", run.release, "--success", str(int(success)), "--duration",
           f"{seconds:.1f}", "--from", run.plan["current"] or "none", "--to", to or "none", "--detail",
           "; ".join(r["revision"] for r in run.plan["pending"]), what="recording the migration")
    except Exception as e:  # the database may be what failed: the point and the exit status still tell
        logger.warning(f"{host.name}: {e}")
    metrics.write_point(host.state, "migration", run.release, success, duration=seconds,
                        from_revision=run.plan["current"] or "none", to_revision=to or "none")


def outcome():
    """Step 7: fail the run, saying what state every tier is in."""
    run = current()
    if run.restored:
        data = f"the database is back on the pre-migration backup {run.backup_id} (replicas seeded again)"
    elif run.restored is False:
        data = f"the database is in an unknown state; maintenance mode stays ON; backup {run.backup_id} is intact"
    elif run.ddl_ran:
        data = "the schema changed and no backup was taken: look before serving"
    else:
        data = f"the schema is unchanged at {run.plan['current'] if run.plan else 'its revision'}"
    raise RuntimeError(f"{run.failed}\n  app tier: no app host switched; each keeps serving its release"
                       f"\n  data tier: {data}")


def allows(release_id: str) -> None:
    """Raises unless this app host may switch to ``release_id``: its schema is applied.
    When the first app host is not in the run (--limit), this host checks itself."""
    run = current()
    if run.failed:
        raise RuntimeError(f"{host.name} not switched: {run.failed.splitlines()[0]}")
    if run.plan is None:
        ok, _ = host.run_shell_command(argv("stack-app", "migrate", release_id, "--check"),
                                       _sudo=bool(host.data.get("_sudo")))
        if not ok:
            raise RuntimeError(f"{host.name} not switched: release {release_id} has pending migrations, and "
                               f"{runner().name}, which runs them, is not in this run (--limit)")


def is_primary() -> bool:
    return host.name == topology.primary().name
