"""Restore drill: `pyinfra inventories/production.py tasks/restore_drill.py`, with the
age identity that decrypts backups in STACK_BACKUP_AGE_IDENTITY_FILE.

On the backup source host, the latest backup (or `--data backup_id=<id>`) is
restored into a scratch server (its own datadir and socket, no network, no
replication), checked against its manifest (sha256, rows per table, alembic
revision), timed, and removed. It prints the RTO and writes a `restore` point
(kind=drill); Grafana alerts when no drill succeeded for 8 days. The live
databases are not touched. .github/workflows/drill.yml runs it weekly from where the
identity lives (the db hosts never hold it, so no timer on them can).
"""

from pyinfra import host

from stack import restore_identity, topology
from stack.shell import call

backup_id = host.data.get("backup_id", "latest")  # its form is checked by preflight
identity = restore_identity.identity_file(host)


def drill():
    restore_identity.with_identity(host, identity, "stack-backup", "drill", backup_id, what=f"the drill of backup {backup_id} failed")


if host.name == topology.backup_source().name:
    call(name=f"Restore drill of backup {backup_id}", function=drill)
