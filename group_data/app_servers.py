"""App servers: the sample sales app (files/app), or yours."""

# App source on the controller (directory with requirements.txt and wsgi.py).
app_source = "files/app"
# alembic directory shipped with each release (path on the controller).
app_migrations = "migrations"
# Unprivileged user the app runs as (Unix user name).
app_user = "sales"
# Where releases, shared/ and current live on the host (absolute path).
app_root = "/srv/sales"
# Seed 003: the app restarts past this much memory (size like 1G): workers replace
# themselves past their share, the unit's MemoryMax is the kernel's backstop.
app_memory_max = "1G"
# Releases kept on each host (count); current and previous are never pruned.
app_keep_releases = 5
# How long a switched host may take to answer /health with 200 (seconds).
app_health_timeout = 30
# A migration's DDL waiting longer than this for a metadata lock fails, instead of
# queueing every query of the site behind it (seconds).
app_migration_lock_wait = 10
# An online revision (migrations/online.py) pauses its copy while the replica is at least
# this far behind (whole seconds: the replica's Seconds_Behind_Master) ...
app_migration_online_max_lag = 1
# ... or while the primary runs more threads than this (Threads_running) ...
app_migration_online_max_load = 25
# ... and stops, leaving the table as it was, past this many (Threads_running).
app_migration_online_critical_load = 50
# Its swap waits this long for the table's metadata lock, then gives up for 1 s, at most
# 3 times (seconds): the longest any write waits for an online change.
app_migration_online_cutover_wait = 2
# After its health gate, each switched host is watched at nginx (seed 004's automatic
# rollback): a 5xx share above this (percent) ...
app_bake_error_rate_percent = 5
# ... over this long after the switch switches it back and stops the rollout (seconds).
app_bake_error_rate_seconds = 60
# A P99 response time above this (seconds) ...
app_bake_p99_limit = 5
# ... over this long does the same (seconds). The bake lasts the longer window.
app_bake_p99_seconds = 120
