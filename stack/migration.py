"""The one migration flow: tasks/migrate.py declares it, deploy.py includes that file
between installing a release and switching to it. One run's state (``current()``,
in the run's context) is shared by every host's operations.

In order, each step a shared operation skipped where it does not apply:
 0. an earlier run that died part-way (its journal is on the primary) is finished
    first: a migration that completed is kept, one that changed nothing is let go,
    one that stopped half-way is put back (step 5) and this run stops there;
 1. plan, on the first app host: the pending revisions, what they declare, their
    offline SQL and the DDL lint (stack/ddl.py); a refusal here touches nothing;
 2. a pre-migration backup on the db primary (unless the schema is empty), physical, verified, encrypted to the
    backups' recipient and to a key made for this run only, which sits in /run
    on the primary with the run's journal and is removed at the end (a restore
    needs no operator);
 3. maintenance on, if a pending revision is breaking; the primary frozen
    (stack-mysql freeze): clients' writes get 503 with Retry-After from here on,
    and the binlog position then is the freeze point, after every acknowledged write;
    not when every pending revision is online (migrations/online.py): a failed or
    cancelled online change leaves its table as it was, so writes go on;
 4. alembic upgrade head, once, from the first app host (lock-wait timeout), then
    --check-heads;
 5. on failure, if the schema changed: maintenance on, the backup restored on the
    primary and the primary's own binlogs replayed up to the freeze point (every
    acknowledged write is back, nothing of the migration's), the replicas seeded
    again; it stays frozen and in maintenance only if the restore failed;
 6. thawed, maintenance off; deployment_record and audit_log rows; a `migration` point;
 7. the outcome: a failed migration fails the run with what happened and the state
    of every tier, and no app host switches (stack/rollout.py asks ``allows``).

Why a freeze after the backup, not before it: the writes between the two are
replayed from the binlog, so clients wait only for the DDL, never for the backup
(docs/migrations.md has the figures).
"""

from __future__ import annotations

import io
import json
import re
import sys
import time

from pyinfra import host, inventory, logger

from stack import context, ddl, lock, metrics
from stack.shell import argv, run_on

RUN_DIR = "/run/stack-migrate"  # tmpfs on the primary: this run's key and journal
JOURNAL = f"{RUN_DIR}/journal.json"  # what a run that dies leaves for the next: release, backup, freeze point


class Run:
    def __init__(self):
        self.release: str | None = None
        self.plan: dict | None = None  # stack-app plan, once the first app host made it
        self.failed: str | None = None  # what went wrong, said once
        self.backup_id: str | None = None
        self.ddl_ran = False
        self.restored: bool | None = None
        self.frozen: str | None = None  # the freeze point (a GTID position), once frozen
        self.journal: dict | None = None  # an earlier run's, which died part-way
        self.reseed = False  # the primary's data was put back: the replicas follow it
        self.thaw_first = False  # a dead run's freeze, lifted before anything else
        self.started = time.monotonic()

    def pending(self) -> bool:
        return bool(self.plan and self.plan["pending"])

    def go(self) -> bool:
        return self.pending() and not self.failed

    def needs_backup(self) -> bool:
        """An empty database (no revision yet) holds nothing to lose."""
        return self.go() and self.plan["current"] is not None

    def online(self) -> bool:
        """Every pending revision changes its tables online: a failed or cancelled one
        leaves them as they were, so nothing would be put back and writes go on (no
        freeze)."""
        return self.pending() and all(r.get("online") for r in self.plan["pending"])

    def breaking(self) -> bool:
        return self.pending() and any(r["breaking"] for r in self.plan["pending"])

    def needs_restore(self) -> bool:
        return bool(self.failed and self.ddl_ran and self.backup_id and self.frozen)

    def needs_thaw(self) -> bool:
        return bool(self.frozen) and self.restored is not False

    def needs_maintenance_off(self) -> bool:
        return (self.breaking() or self.needs_restore() or bool(self.journal)) and self.restored is not False


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
              (" [destructive]" if r["destructive"] else "") + (" [online]" if r.get("online") else "")
              for r in plan["pending"]]
    lines += ["locks (at the tables' row counts now):"]
    lines += [f"  {line}" for line in ddl.locks(plan["sql"], online_revisions(plan), plan.get("rows", {}))]
    return "\n".join(lines + ["offline SQL:", plan["sql"].strip()])


def online_revisions(plan: dict) -> set[str]:
    return {r["revision"] for r in plan["pending"] if r.get("online")}


def adopt(plan: dict, release: str, backups: bool) -> str | None:
    """The plan for this run: logged, and checked. Returns why nothing may run, if so."""
    run = current()
    run.release, run.plan = release, plan
    if not run.pending():
        logger.info(f"--> release {release}: no pending revisions")
        return None
    logger.info(f"--> release {release}: {describe(plan)}")
    intended = {r["revision"]: set(r["intended"]) for r in plan["pending"]}
    risky = ddl.lint(plan["sql"], intended, online_revisions(plan))
    if risky:
        return ("refused before anything was touched: risky DDL that its revision does not declare "
                "(add the rule to the revision's `intended` if it is meant):\n  " + "\n  ".join(risky))
    if not backups and plan["current"] is not None:
        return "refused before anything was touched: backups are off (backup_enabled), and no migration runs " \
               "on a schema in use without a pre-migration backup"
    return None


def resume(journal: dict, plan: dict, primary_at: str) -> None:
    """Step 0, at prepare time: what an earlier run that died part-way left. ``plan``:
    the schema now against the journal's release; ``primary_at``: the primary's
    binlog position."""
    run = current()
    run.journal, run.release, run.backup_id = journal, journal["release"], journal["backup_id"]
    was = f"the migration to {journal['release']} (the run where {lock.describe(journal.get('run', {}))})"
    step, frozen = journal.get("step"), journal.get("frozen")
    untouched = plan["schema"] == journal["schema"]
    # a dead run may have frozen the primary before its journal could say so: thawed first
    if step == "putting_back" and untouched and primary_at == frozen:
        logger.warning(f"--> {was} died after putting the data back: the replicas are seeded again")
        run.reseed = run.thaw_first = True
    elif step != "putting_back" and not plan["pending"]:
        logger.warning(f"--> {was} completed before its run died: it is kept, and the primary thawed")
        run.thaw_first = True
    elif step != "putting_back" and untouched:
        logger.warning(f"--> {was} died before changing the schema: the primary is thawed")
        run.thaw_first = True
    elif frozen is None:  # an online change, never frozen: no freeze point to put back to
        run.failed = (f"{was} died during an online change, after its table was swapped in but before "
                      "alembic recorded it: look before serving (docs/migrations.md)")
        run.plan = {**plan, "pending": []}
        logger.warning(f"--> {run.failed}")
    else:
        run.frozen = frozen
        run.ddl_ran, run.plan = True, {**plan, "schema": journal["schema"], "pending": []}
        run.failed = (f"{was} died part-way: the data is put back as it was at its freeze point; "
                      "run again to migrate")
        logger.warning(f"--> {run.failed}")


def write_journal(step: str):
    """On the primary, before each step a death would leave half-done."""
    run = current()
    note = {"release": run.release, "backup_id": run.backup_id, "frozen": run.frozen, "step": step,
            "schema": run.plan["schema"], "run": lock.holder(sys.argv)}
    run_on(host, "install", "-d", "-m", "0700", RUN_DIR, what=f"making {RUN_DIR}")
    if not host.put_file(io.StringIO(json.dumps(note)), JOURNAL, _sudo=bool(host.data.get("_sudo"))):
        raise RuntimeError(f"writing {JOURNAL} failed")


def make_plan(release):
    """Step 1 when the release was installed in this run, on the first app host."""
    run = current()
    plan = json.loads(run_on(host, "stack-app", "plan", release(), what="the migration plan"))
    run.failed = adopt(plan, release(), host.data.backup_enabled)


def back_up():
    """Step 2, on the primary."""
    run = current()
    try:
        # what an earlier run left here is settled (step 0): its key and journal go
        run_on(host, "rm", "-rf", RUN_DIR, what=f"clearing {RUN_DIR}")
        run_on(host, "install", "-d", "-m", "0700", RUN_DIR, what=f"making {RUN_DIR}")
        run_on(host, "age-keygen", "-o", f"{RUN_DIR}/identity", what="making this run's key")
        public = run_on(host, "age-keygen", "-y", f"{RUN_DIR}/identity", what="reading this run's key").strip()
        out = run_on(host, "stack-backup", "--wait", "run", "--method", "physical", "--extra-recipient", public,
                 what="the pre-migration backup")
        run.backup_id = re.findall(r"backup (\d{8}T\d{6}Z): ", out)[-1]
        run_on(host, "stack-backup", "verify", run.backup_id, what="verifying the pre-migration backup")
        write_journal("backed_up")
    except Exception as e:
        run.failed = f"refused before anything was touched: {e}"


def freeze():
    """Step 3, on the primary: from here, every write is after the migration's."""
    run = current()
    try:
        run.frozen = json.loads(run_on(host, "stack-mysql", "freeze", what="freezing the primary"))["gtid"]
        write_journal("frozen")
    except Exception as e:
        run.failed = f"refused before the schema was touched: {e}"
        if run.frozen is None:  # frozen or not, it must not stay so: thawed (a no-op if it never froze)
            run_on(host, "stack-mysql", "thaw", what="thawing the primary after a failed freeze")


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
    """Step 5, on the primary: the pre-migration backup, with this run's key, and
    this server's binlogs up to the freeze point."""
    run = current()
    try:
        write_journal("putting_back")
        # --wait: a put-back begun by a run that died may still be running here
        run_on(host, "stack-backup", "--wait", "stage", run.backup_id, "--identity", f"{RUN_DIR}/identity",
               "--until-gtid", run.frozen, "--local-binlogs", what="staging the pre-migration backup")
        run_on(host, "stack-backup", "--wait", "swap", what="restoring the pre-migration backup")
        run.restored = run.reseed = True
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
        data = (f"the database is back on the pre-migration backup {run.backup_id} with every write up to the "
                f"freeze point {run.frozen} (replicas seeded again)")
    elif run.restored is False:
        data = (f"the database is in an unknown state; maintenance mode stays ON and the primary frozen; backup "
                f"{run.backup_id} is intact; run the same command again to retry the put-back")
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
    if run.plan is None and runner() in host.state.activated_hosts:  # its plan step failed
        raise RuntimeError(f"{host.name} not switched: the migration plan for {release_id} failed on "
                           f"{runner().name}")
    if run.plan is None:
        ok, _ = host.run_shell_command(argv("stack-app", "migrate", release_id, "--check"),
                                       _sudo=bool(host.data.get("_sudo")))
        if not ok:
            raise RuntimeError(f"{host.name} not switched: release {release_id} has pending migrations, and "
                               f"{runner().name}, which runs them, is not in this run (--limit)")
