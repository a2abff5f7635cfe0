"""Monitoring: InfluxDB (seed 000: InfluxDB 2.7, 90-day metrics retention)."""

# InfluxDB major version (1 or 2): 2 from InfluxData's repository; 1 is the
# distribution's package (what the testbed runs: the vendor repository is unreachable).
influxdb_major = 2
# Organisation (name; 2.x only).
influxdb_org = "easy-erp"
# Bucket (2.x) or database (1.x) the metrics go to (name).
influxdb_bucket = "metrics"
# How long metrics are kept (days).
influxdb_retention_days = 90
# Admin/operator user (name); its password (1.x) or token (2.x) is the influxdb_token secret.
influxdb_admin_user = "admin"
# User the ops flows write with (name; 1.x), password: the influxdb_writer_password secret.
influxdb_writer_user = "ops_writer"
