"""Restore a backup onto the db primary: `pyinfra inventories/production.py tasks/restore.py
--data backup_id=latest|<id> --data confirm=production`, with the age identity that
decrypts backups on the controller, in STACK_BACKUP_AGE_IDENTITY_FILE. With
`--data backup_database=NAME`, only that database, from a logical backup. With
`--data until=2026-11-25T14:30:00Z` (UTC) or `--data until_gtid=0-1-42`, a
point-in-time restore: the latest physical backup before then (or the one named),
plus the binlog archive replayed up to then (that transaction included).

In order: maintenance on (web hosts); on the primary, the backup is fetched from
S3, checked against its manifest's sha256, decrypted and prepared aside before
anything is touched, then swapped in (the old datadir comes back if anything
fails) and its row counts checked; the replicas are seeded again from it;
maintenance off. The identity reaches the primary only in /run (tmpfs), in a
0700 directory of the deploy user, and is removed afterwards, whatever happened.
"""

from pyinfra import host, inventory
from pyinfra.operations import files, server

from stack import restore_identity, rollout, topology
from stack.checks import Refused
from stack.shell import call, run_on
from stack.validate import environment_of

# their form is checked by preflight; tasks/rollback.py includes this file for its restore_backup
backup_id = host.data.get("restore_backup") or host.data.get("backup_id", "latest")
database = host.data.get("backup_database")
until = host.data.get("until")
until_gtid = host.data.get("until_gtid")
if until and until_gtid:
    raise Refused("--data until= and --data until_gtid= both name the point: choose one")
environment = environment_of(host)
if environment != "testbed" and host.data.get("confirm") != environment:
    raise Refused(f"restoring replaces the {environment} database: add --data confirm={environment}")
identity = restore_identity.identity_file(host)
primary, source = topology.primary(), topology.backup_source()


def stage():
    # --wait: a restore begun by a run that died may still be running on the host
    restore_identity.with_identity(host, identity, "stack-backup", "--wait", "stage", backup_id, "--from", source.name,
                          *(["--database", database] if database else []), *(["--until", until] if until else []),
                          *(["--until-gtid", until_gtid] if until_gtid else []),
                          what=f"staging backup {backup_id} failed")


def swap():
    run_on(host, "stack-backup", "--wait", "swap",
           what="the swap failed; maintenance mode stays ON on purpose, until a person has looked (then: "
                "tasks/maintenance.py --data maintenance=off)")


# Every host has every step (each one skipped where it does not apply): shared
# operations keep pyinfra's order across hosts, so no replica is seeded before the
# primary's swap. Nothing is touched until the backup is staged on the primary.
is_primary = host.name == primary.name
is_web = "web_servers" in host.groups
is_replica = "db_servers" in host.groups and not is_primary
web = inventory.get_group("web_servers", [])
flag = web[0].data.nginx_maintenance_flag if web else "/nonexistent"


def primary_ok():
    return not rollout.failed([primary.name])


call(name=f"Backup {backup_id} staged on the primary", function=stage, _if=lambda: is_primary)
files.file(name="Maintenance on", path=flag, present=True, _if=lambda: is_web and primary_ok())
call(name="Primary's data swapped for the backup", function=swap, _if=lambda: is_primary)
server.shell(name="Replica seeded again from the restored primary", commands=["stack-mysql replica --reseed"],
             _if=lambda: is_replica and primary_ok())
# After a failed swap the old data is back, but maintenance stays on until a person
# has looked (stack-backup said what happened); a failed staging never turned it on.
files.file(name="Maintenance off", path=flag, present=False, _if=lambda: is_web and primary_ok())
