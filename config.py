"""pyinfra's config, loaded before the inventory.

Registers, for every run (deploy.py or any single task file), the preflight check,
so that bad group data or a missing secret stops it before a host is contacted, the
platform check (stack/platforms.py: an OS outside the support matrix stops it when
the host is reached, before anything is prepared), the flow lock (stack/lock.py: one
run at a time on a host, taken before the first operation), and
TCP_NODELAY on each SSH connection (stack/hooks.py: 40 ms less per command), and
the watch for a first change that lets the file operations read their files at once;
and narrows the run to its shard (``--data shard=``, stack/shards.py).
"""

from pyinfra import config

from stack import audit, context, hooks, lock, platforms, preflight, pyinfra_private, shards

pyinfra_private.after_state_init(preflight.Preflight(), platforms.PlatformCheck(), lock.FlowLock(),
                                 hooks.NoDelay(), hooks.Changes(), audit.AuditRecord(), limit=shards.limit)
context.current()  # the run's context, made now: its clock starts with the run

# Uploads go to /tmp, then sudo moves them: the hosts run libpam-tmpdir (tasks/base.py),
# which gives root a TMPDIR of its own that the SSH user, who uploads, cannot write to.
config.TEMP_DIR = "/tmp"
