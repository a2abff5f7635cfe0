"""Backups kept in place on db_servers (backup_enabled): stack-backup, its config,
the S3 bucket, and on the backup source host (the first replica, or the
primary) the daily timer and the binlog archiver (point-in-time recovery).
stack/hosttools/stack_backup does the work on the host.

The config holds the S3 keys and the age *public* recipient: nothing on a db
host can decrypt a backup.
"""

import ipaddress

from pyinfra import host
from pyinfra.facts.files import File
from pyinfra.operations import server, systemd

from stack import metrics, packages, programs, s3, secrets, services, tls, topology
from stack.configs import directories, file, render
from stack.shell import argv
from stack.validate import environment_of

WRITER_CONFIG = "/etc/stack/influx-writer.json"
BUCKET_MARKER = "/var/lib/stack/backup-bucket-ensured"  # the last bucket ensure completed
is_source = topology.backup_source().name == host.name
primary = topology.primary().data

packages.present("Backup tools", ["mariadb-backup", "zstd", "age", "python3-boto3", "python3-pymysql"])
directories((host.data.backup_local_dir, "0700", "root", "root"), name="Local backups directory")
# Points (backup, restore, drill) are written from here, by the timers too.
writer = metrics.host_writer_config(host)
if writer:
    programs.install("stack-influx", config_name="InfluxDB writer config", config_path=WRITER_CONFIG,
                     config=writer)
backup = {
    "method": host.data.backup_method,
    "host": host.name,
    "environment": environment_of(host),
    "socket": "/run/mysqld/mysqld.sock",
    "databases": [host.data.mysql_app_database],
    "record_table": f"{host.data.mysql_app_database}.backup_record",  # a row per backup, on the primary
    "local_dir": host.data.backup_local_dir,
    "local_keep_days": host.data.backup_local_keep_days,
    "metrics_config": WRITER_CONFIG if writer else None,
    "recipient": secrets.get("backup_age_recipient"),
    # the archiver reads the primary's binlog as the backup user, under a server id
    # outside every private range's derived ids (tasks/mysql.py derives them from addresses)
    "binlog": {
        "host": primary.private_address,
        "port": host.data.mysql_port,
        "user": host.data.mysql_backup_user,
        "password": secrets.get("mysql_backup_password"),
        "ca": tls.CA_CERT,  # over TLS, the primary's certificate checked
        "flush_seconds": host.data.backup_binlog_flush_seconds,
        "server_id": 0xF0000000 + int(ipaddress.ip_address(host.data.private_address)) % 2**24,
    },
    "s3": {**s3.settings(host), "keep_days": host.data.backup_s3_keep_days},
}
config = programs.install("stack-backup", config_name="stack-backup config", config_path="/etc/stack/backup.json",
                          config=backup)

# Ensured again when the config changed or no ensure has completed (its marker goes
# first, comes last): asking S3 on every run was 0.8 s of a no-op converge. A bucket
# deleted behind our back fails the next backup, which alerts.
ensured = is_source and host.get_fact(File, path=BUCKET_MARKER)
server.shell(name="Backup bucket (created if missing)",
             commands=[argv("rm", "-f", BUCKET_MARKER), "stack-backup bucket --ensure",
                       argv("install", "-D", "-m", "0600", "/dev/null", BUCKET_MARKER)],
             _if=lambda: is_source and (not ensured or config.did_change()))

units = [file(name=f"systemd {unit}", dest=f"/etc/systemd/system/{unit}", content=render(
             f"templates/backup/{unit}.j2", schedule=host.data.backup_schedule,
             backup_local_dir=host.data.backup_local_dir))
         for unit in ("stack-backup.service", "stack-backup.timer", "stack-binlog-archive.service")]
systemd.daemon_reload(name="systemd reload", _if=lambda: any(u.did_change() for u in units))
# Only the source host backs up on schedule and archives binlogs; the others have the program for ops.
off = "" if is_source else " (off: not the backup source)"
services.kept(name="Daily backup timer" + off, service="stack-backup.timer", running=is_source, enabled=is_source)
services.kept(name="Binlog archive" + off, service="stack-binlog-archive.service", running=is_source,
                enabled=is_source)
systemd.service(name="Binlog archive restarted for the new config", service="stack-binlog-archive.service",
                restarted=True, _if=lambda: is_source and (config.did_change() or units[2].did_change()))
