"""Back up now: `pyinfra inventories/production.py tasks/backup.py`.

Runs stack-backup on the backup source host (the first replica, or the primary;
tasks/backup_schedule.py installed it) and prints what it made: the id, size,
duration and S3 key. Exits non-zero if the backup or its upload failed; a
backup whose upload failed is kept on the host and uploaded by the next run.
`--data backup_method=logical` makes a logical backup this once (single-database
restores need one).
"""

from pyinfra import host

from stack import topology
from stack.shell import call, run_on


def back_up():
    # --wait: the nightly backup, if it is running now, is waited for, not a reason to fail
    run_on(host, "stack-backup", "--wait", "run", "--method", host.data.backup_method, what=f"{host.name}: backup failed")


if host.name == topology.backup_source().name:
    call(name="Backup now (stack-backup run)", function=back_up)
