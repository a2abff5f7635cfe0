"""production: only what really differs from the defaults. This group overrides every
other group (pyinfra adds the inventory file's group last)."""

# Who may reach sshd (CIDR networks): the bastion/VPN network ops connect from
# (placeholder: set yours).
base_firewall_ssh_from = ["10.10.0.0/16"]
# Certificate chain for nginx (PEM path on the controller, outside the repo).
nginx_tls_certificate = "/etc/stack/production/tls/site.crt"
# Its private key (PEM path on the controller, outside the repo; uploaded as a secret).
nginx_tls_key = "/etc/stack/production/tls/site.key"
# InfluxData's apt repository (InfluxDB 2.x, Telegraf): the URL from InfluxData's
# install docs, or your mirror of it (placeholder: replace it).
influxdb_apt_url = "https://apt-mirror.production.example.com/influxdata/debian"
# InfluxData's signing key (URL; its fingerprint is pinned in group_data/all.py).
influxdb_apt_key_url = "https://apt-mirror.production.example.com/influxdata/influxdata-archive.key"
# Grafana's apt repository: the URL from Grafana's install docs, or your mirror (placeholder).
grafana_apt_url = "https://apt-mirror.production.example.com/grafana"
# Grafana's signing key (URL; fingerprint pinned in group_data/monitoring_servers.py).
grafana_apt_key_url = "https://apt-mirror.production.example.com/grafana/gpg.key"
# Daily encrypted backups to S3 (seed 001), with their alerts (bool); the bucket
# and retention are in db_servers.py, the keys are the s3_* secrets.
backup_enabled = True
