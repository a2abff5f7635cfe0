"""App servers: the sample sales app (files/app), or yours."""

# App source on the controller (directory with requirements.txt and wsgi.py).
app_source = "files/app"
# alembic directory shipped with each release (path on the controller).
app_migrations = "migrations"
# Unprivileged user the app runs as (Unix user name).
app_user = "sales"
# Where releases, shared/ and current live on the host (absolute path).
app_root = "/srv/sales"
# Releases kept on each host (count); current and previous are never pruned.
app_keep_releases = 5
# How long a switched host may take to answer /health with 200 (seconds).
app_health_timeout = 30
