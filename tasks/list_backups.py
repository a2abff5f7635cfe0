"""List every backup: `pyinfra inventories/production.py tasks/list_backups.py`.

Asks stack-backup on the backup source (it reads the whole bucket) and prints one
line per backup, oldest first: id, host that took it (the primary's are the
pre-migration backups), method, size, age, where it is, the last drill that
restored it, and the archived binlogs a point-in-time restore from it can replay.
Any id it shows restores with tasks/restore.py --data backup_id=<id>. Changes nothing.
"""

import json

from pyinfra import host, logger

from stack import topology
from stack.shell import call, run_on


def show():
    backups = json.loads(run_on(host, "stack-backup", "catalogue", what="listing the backups"))
    lines = [f"{'id':17} {'host':8} {'method':8} {'size':>10} {'age':>8}  {'where':10} {'drilled':21} binlogs"]
    for b in backups:
        lines.append(f"{b['id']:17} {b['host']:8} {b['method']:8} {b['size_bytes'] / 2**20:9.1f}M "
                     f"{b['age_hours']:7.1f}h  {b['where']:10} {b['drilled'] or 'never':21} {b['binlogs']}")
    logger.info("--> backups:\n" + "\n".join(lines))


if host.name == topology.backup_source().name:
    call(name="Every backup, from S3 and this host", function=show)
