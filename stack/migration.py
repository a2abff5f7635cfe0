"""The one migration flow: tasks/migrate.py declares it, deploy.py includes that file
between installing a release and switching to it. One run's state lives here,
shared by every host's operations (pyinfra imports this module once per run).

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

from stack import ddl, metrics, topology
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


state = Run()


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
    state.release, state.plan = release, plan
    if not state.pending():
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
    plan = json.loads(run_on(host, "stack-app", "plan", release(), what="the migration plan"))
    state.failed = adopt(plan, release(), host.data.backup_enabled)


def back_up():
    """Step 2, on the primary."""
    try:
        run_on(host, "install", "-d", "-m", "0700", RUN_DIR, what=f"making {RUN_DIR}")
        run_on(host, "age-keygen", "-o", f"{RUN_DIR}/identity", what="making this run's key")
        public = run_on(host, "age-keygen", "-y", f"{RUN_DIR}/identity", what="reading this run's key").strip()
        out = run_on(host, "stack-backup", "run", "--method", "physical", "--extra-recipient", public,
                 what="the pre-migration backup")
        state.backup_id = re.findall(r"backup (\d{8}T\d{6}Z): ", out)[-1]
        run_on(host, "stack-backup", "verify", state.backup_id, what="verifying the pre-migration backup")
    except Exception as e:
        state.failed = f"refused before anything was touched: {e}"


def migrate():
    """Step 4, on the first app host."""
    try:
        run_on(host, "stack-app", "migrate", state.release, what="the migration")
    except Exception as e:
        state.failed = f"the migration failed: {e}"
        try:
            after = json.loads(run_on(host, "stack-app", "plan", state.release, what="the schema after the failure"))
            state.ddl_ran = after["schema"] != state.plan["schema"]
        except Exception:  # can't tell: assume it changed, and restore
            state.ddl_ran = True


def restore():
    """Step 5, on the primary: the pre-migration backup, with this run's key."""
    try:
        run_on(host, "stack-backup", "stage", state.backup_id, "--identity", f"{RUN_DIR}/identity",
           what="staging the pre-migration backup")
        run_on(host, "stack-backup", "swap", what="restoring the pre-migration backup")
        state.restored = True
    except Exception as e:
        state.restored = False
        state.failed += f"; THE RESTORE FAILED TOO: {e}"


def forget_key():
    run_on(host, "rm", "-rf", RUN_DIR, what=f"removing {RUN_DIR}")


def record():
    """Step 6, on the first app host: the rows and the point, whatever the outcome."""
    success, seconds = not state.failed, time.monotonic() - state.started
    to = state.plan["head"] if success else state.plan["current"]
    try:
        run_on(host, "stack-app", "record", "migrate", state.release, "--success", str(int(success)), "--duration",
           f"{seconds:.1f}", "--from", state.plan["current"] or "none", "--to", to or "none", "--detail",
           "; ".join(r["revision"] for r in state.plan["pending"]), what="recording the migration")
    except Exception as e:  # the database may be what failed: the point and the exit status still tell
        logger.warning(f"{host.name}: {e}")
    metrics.write_point(host.state, "migration", state.release, success, duration=seconds,
                        from_revision=state.plan["current"] or "none", to_revision=to or "none")


def outcome():
    """Step 7: fail the run, saying what state every tier is in."""
    if state.restored:
        data = f"the database is back on the pre-migration backup {state.backup_id} (replicas seeded again)"
    elif state.restored is False:
        data = f"the database is in an unknown state; maintenance mode stays ON; backup {state.backup_id} is intact"
    elif state.ddl_ran:
        data = "the schema changed and no backup was taken: look before serving"
    else:
        data = f"the schema is unchanged at {state.plan['current'] if state.plan else 'its revision'}"
    raise RuntimeError(f"{state.failed}\n  app tier: no app host switched; each keeps serving its release"
                       f"\n  data tier: {data}")


def allows(release_id: str) -> None:
    """Raises unless this app host may switch to ``release_id``: its schema is applied.
    When the first app host is not in the run (--limit), this host checks itself."""
    if state.failed:
        raise RuntimeError(f"{host.name} not switched: {state.failed.splitlines()[0]}")
    if state.plan is None:
        ok, _ = host.run_shell_command(argv("stack-app", "migrate", release_id, "--check"),
                                       _sudo=bool(host.data.get("_sudo")))
        if not ok:
            raise RuntimeError(f"{host.name} not switched: release {release_id} has pending migrations, and "
                               f"{runner().name}, which runs them, is not in this run (--limit)")


def is_primary() -> bool:
    return host.name == topology.primary().name
