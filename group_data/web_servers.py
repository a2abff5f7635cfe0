"""Nginx in front of the app servers. Seed values (seed 001) unless said otherwise."""

# Public name of the site (host name): server_name and the self-signed certificate's CN.
nginx_server_name = "sales.example.com"
# Make a self-signed certificate on the host (bool): for test hosts, never production.
nginx_tls_self_signed = False
# Certificate chain (PEM path on the controller); required unless self-signed.
nginx_tls_certificate = None
# Private key (PEM path on the controller, uploaded as a secret); required unless self-signed.
nginx_tls_key = None
# With an email address (string): certificates from Let's Encrypt by certbot (webroot,
# renewed by certbot.timer); nginx_server_name must resolve to this host, port 80 open.
nginx_tls_certbot_email = None
# Largest request body (nginx size: 16m).
nginx_client_max_body_size = "16m"
# Connect/send/read timeouts towards the app (seconds).
nginx_proxy_timeout = 60
# How long browsers may cache /static/ (days).
nginx_static_expires_days = 30
# Strict-Transport-Security max-age (seconds; two years).
nginx_hsts_max_age = 63072000
# Idle keepalive connections kept open to the app servers (count per worker).
nginx_upstream_keepalive = 32
# While this file exists nginx answers 503 with the maintenance page (path on the host).
nginx_maintenance_flag = "/var/www/maintenance/on"
# What a 503 (maintenance, or no app host up) tells clients to wait before retrying (seconds).
nginx_maintenance_retry_after = 120
