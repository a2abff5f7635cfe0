"""Logs kept in bounds on every host (seed 001): the journal capped in size and age,
nginx's and MariaDB's files rotated daily and compressed, and with backup_enabled a
weekly archive of the week's logs, encrypted like the backups, to S3 (stack-backup
logs: stack/hosttools/stack_backup/logs.py). The app logs to the journal.
"""

from pyinfra import host
from pyinfra.operations import systemd

from stack import packages, programs, s3, secrets, services
from stack.configs import file, render
from stack.validate import environment_of

STATE_DIR = "/var/lib/stack/logs"

packages.present("logrotate", ["logrotate"])  # not in a minimal Debian, and nothing rotates without it
journald = file(name="journald limits", dest="/etc/systemd/journald.conf.d/stack.conf",
                content=render("templates/logs/journald.conf.j2"))
systemd.service(name="journald restarted for its limits", service="systemd-journald", restarted=True,
                _if=journald.did_change)

# Each replaces the package's own file of the same name: one rotation per log.
if "web_servers" in host.groups:
    file(name="nginx log rotation", dest="/etc/logrotate.d/nginx", content=render("templates/logs/nginx.logrotate.j2"))
if "db_servers" in host.groups:
    file(name="MariaDB log rotation", dest="/etc/logrotate.d/mariadb",
         content=render("templates/logs/mariadb.logrotate.j2"))

archived = bool(host.data.backup_enabled)
if archived:
    packages.present("Log archive tools", ["zstd", "age", "python3-boto3"])
    programs.install("stack-backup", config_name="Log archive config", config_path="/etc/stack/logs.json", config={
        "host": host.name,
        "environment": environment_of(host),
        "local_dir": STATE_DIR,
        "recipient": secrets.get("backup_age_recipient"),
        "logs": {"paths": ["/var/log/nginx/*.gz", "/var/log/mysql/*.gz"], "state": f"{STATE_DIR}/archived-until",
                 "s3_keep_days": host.data.logs_s3_keep_days},
        "s3": s3.settings(host),
    })
units = [file(name=f"systemd {unit}", dest=f"/etc/systemd/system/{unit}", content=render(f"templates/logs/{unit}.j2"))
         for unit in ("stack-log-archive.service", "stack-log-archive.timer")]
systemd.daemon_reload(name="systemd reload", _if=lambda: any(u.did_change() for u in units))
services.kept(name="Weekly log archive timer" + ("" if archived else " (off: backup_enabled is false)"),
              service="stack-log-archive.timer", running=archived, enabled=archived)
