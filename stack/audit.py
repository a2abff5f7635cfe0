"""An audit_log row for every flow run (seed 000: who did what, when), written when
the run is over, whatever its outcome, through the first app host's `stack-app
record` (the app database, as the migration user). Migrate and rollback write
their own rows (with a deployment_record) as their last step; deploy.py, backup,
restore, the drill and maintenance get theirs here. A component's task file run
alone is a converge, not a flow: no row.
"""

from __future__ import annotations

import sys
import time

from pyinfra import logger
from pyinfra.api.state import BaseStateCallback

from stack import context, lock
from stack.shell import argv

# The flow a run's files name -> the action its row records.
ACTIONS = {"deploy.py": "deploy", "tasks/backup.py": "backup", "tasks/restore.py": "restore",
           "tasks/restore_drill.py": "drill", "tasks/maintenance.py": "maintenance"}


def action_of(argv_: list[str]) -> str | None:
    files = lock.holder(argv_, environ={})["flow"].split()
    return next((ACTIONS[f] for f in files if f in ACTIONS), None)


class AuditRecord(BaseStateCallback):
    def __init__(self):
        self.written = False
        self.completed = False

    def operation_end(self, state, op_hash):
        self.completed = op_hash == state.get_op_order()[-1]

    def host_disconnect(self, state, host):
        action = action_of(sys.argv)
        if self.written or not state.is_executing or action is None:
            return
        self.written = True
        apps = [h for h in state.inventory.get_group("app_servers", []) if h in state.activated_hosts]
        if not apps:
            logger.warning(f"audit_log row for {action} not written: no app host was reached")
            return
        run, note = context.of(state), lock.holder(sys.argv)
        success = self.completed and not state.failed_hosts
        target = run.release or " ".join(f"{k}={v}" for k, v in sorted(target_data(apps[0]).items())) or "-"
        ok, out = apps[0].run_shell_command(argv(
            "stack-app", "record", action, target, "--success", str(int(success)), "--audit-only",
            "--duration", f"{time.monotonic() - run.started:.1f}",
            "--who", note["who"], "--detail", f"{note['flow']} from {note['controller']}"),
            _sudo=bool(apps[0].data.get("_sudo")))
        if not ok:  # the database may be what the flow is about: the run's own output still tells
            logger.warning(f"audit_log row for {action} not written: {out.stderr.strip()[-300:]}")


def target_data(host) -> dict:
    """What a flow was pointed at (its --data), for the row's target."""
    return {k: host.data.get(k) for k in ("backup_id", "until", "until_gtid", "maintenance") if host.data.get(k)}
