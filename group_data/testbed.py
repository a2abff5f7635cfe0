"""testbed: only what really differs on the local testbed. This group overrides
every other group (pyinfra adds the inventory file's group last)."""

# Testbed hosts see all of the machine's RAM but share it: keep MySQL small (size).
mysql_innodb_buffer_pool_size = "256M"
# The testbed has no real certificate: nginx gets a self-signed one (bool).
nginx_tls_self_signed = True
# InfluxData's repository is unreachable here: the distribution's InfluxDB 1.x (major version).
influxdb_major = 1
# Grafana's repository is unreachable here: no Grafana on the testbed (bool).
# Its files are still rendered and checked by tests/unit/test_grafana.py.
grafana_enabled = False
# Telegraf comes from InfluxData's repository, unreachable here: off (bool).
# Its config is still rendered and checked by tests/unit/test_telegraf.py.
telegraf_enabled = False
# The testbed runs a real S3 server (SeaweedFS) on its bridge: backups on (bool).
backup_enabled = True
# Tests wait for the binlog archive: close the primary's binlog sooner (seconds).
backup_binlog_flush_seconds = 20
# Short bakes, so that every test's rollout stays short: the error-rate window (seconds) ...
app_bake_error_rate_seconds = 3
# ... and the P99 window (seconds); production's are 60 and 120.
app_bake_p99_seconds = 3
# Who may reach sshd (CIDR networks): anyone, since the testbed's bridge is reachable
# from this machine only.
base_firewall_ssh_from = ["0.0.0.0/0", "::/0"]
