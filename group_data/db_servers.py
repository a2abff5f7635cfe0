"""MySQL/MariaDB servers. Seed values (seed 000) unless said otherwise. Per host,
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
# What the app user may do on its database only (MySQL privilege names): DML and DDL.
mysql_app_privileges = ["SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "ALTER", "INDEX",
                        "REFERENCES", "CREATE TEMPORARY TABLES", "LOCK TABLES", "CREATE VIEW", "SHOW VIEW",
                        "TRIGGER"]
# What a consistent dump needs (--single-transaction, routines, triggers, events, GTID position).
mysql_backup_privileges = ["SELECT", "SHOW VIEW", "TRIGGER", "EVENT", "LOCK TABLES", "RELOAD", "PROCESS",
                           "REPLICATION CLIENT"]
