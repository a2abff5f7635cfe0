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
# After its health gate, each switched host is watched at nginx (seed 004's automatic
# rollback): a 5xx share above this (percent) ...
app_bake_error_rate_percent = 5
# ... over this long after the switch switches it back and stops the rollout (seconds).
app_bake_error_rate_seconds = 60
# A P99 response time above this (seconds) ...
app_bake_p99_limit = 5
# ... over this long does the same (seconds). The bake lasts the longer window.
app_bake_p99_seconds = 120
