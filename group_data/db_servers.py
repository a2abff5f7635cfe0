"""MariaDB servers. Seed values (seed 000) unless said otherwise. Per host,
the inventory sets mysql_role ("primary" or "replica")."""

# InnoDB buffer pool (size with K/M/G suffix); None: a quarter of RAM, at least 128M.
mysql_innodb_buffer_pool_size = None
# Size of each InnoDB redo log file (K/M/G suffix).
mysql_innodb_log_file_size = "256M"
# Maximum client connections (count).
mysql_max_connections = 200
# Log queries slower than mysql_long_query_time (bool).
mysql_slow_query_log = True
# Slow query threshold (seconds).
mysql_long_query_time = 2
# Binary logs older than this are purged (days).
mysql_binlog_expire_days = 7
# Server and app database character set (name).
mysql_character_set = "utf8mb4"
# Server and app database collation (name).
mysql_collation = "utf8mb4_unicode_ci"
# server_id (int, unique per host); None: derived from the host's private_address.
mysql_server_id = None
# What the app user may do on its database only (MySQL privilege names): DML, nothing more.
mysql_app_privileges = ["SELECT", "INSERT", "UPDATE", "DELETE"]
# What the migration user may do on the app's database only (privilege names): DDL and DML.
mysql_migration_privileges = ["SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "ALTER", "INDEX",
                              "REFERENCES", "CREATE TEMPORARY TABLES", "LOCK TABLES", "CREATE VIEW", "SHOW VIEW",
                              "TRIGGER"]
# What a consistent dump (--single-transaction, routines, triggers, events, GTID position)
# and the binlog archive (reading the primary's binlog, FLUSH BINARY LOGS) need.
mysql_backup_privileges = ["SELECT", "SHOW VIEW", "TRIGGER", "EVENT", "LOCK TABLES", "RELOAD", "PROCESS",
                           "REPLICATION CLIENT", "REPLICATION SLAVE"]
# Seed 001's monthly optimize (stack-mysql optimize, on each db host for itself): the tables
# analyzed, and rebuilt online (table names in mysql_app_database) ...
mysql_optimize_tables = ["sale", "sale_item", "stock_move"]
# ... when (systemd OnCalendar; seed 001: the 1st of the month, 04:00) ...
mysql_optimize_schedule = "*-*-01 04:00:00"
# ... rebuilding only a table with at least this much of its space free (percent) ...
mysql_optimize_min_free_percent = 10
# ... and waiting at most this long for a table's metadata lock, else leaving it as it is
# (seconds; less than the app's 5 s query timeout: queries queue behind a waiting ALTER).
mysql_optimize_lock_wait = 3

# -- backups (stack-backup; tasks/backup_schedule.py) ---------------------------------
# (backup_enabled, which the monitoring host's alerts follow too, is in all.py.)

# "physical" (mariadb-backup: fast restore) or "logical" (mariadb-dump: portable, per database).
backup_method = "physical"
# Where backups run: "replica" (the first replica, if there is one, else the primary) or "primary".
backup_source = "replica"
# When the daily backup runs (systemd OnCalendar time, host's timezone): seed 001's 02:00.
backup_schedule = "02:00"
# Local copies (absolute path, root-only).
backup_local_dir = "/var/backups/stack"
# Local copies are kept this long (days); the newest is never deleted.
backup_local_keep_days = 7
# Backups in S3 are kept this long (days, seed 001: 30); the newest is never deleted.
backup_s3_keep_days = 30
# The binlog archive closes the primary's binlog at least this often when anything
# was written, so no transaction waits longer to be offsite: the RPO (seconds).
backup_binlog_flush_seconds = 300
