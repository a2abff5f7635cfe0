"""production: only what really differs from the defaults. This group overrides every
other group (pyinfra adds the inventory file's group last)."""

# SSH user the deploy connects as (Unix user with passwordless sudo).
ssh_user = "deploy"
# Become root through sudo for every operation (bool).
_sudo = True
# Certificate chain for nginx (PEM path on the controller, outside the repo).
nginx_tls_certificate = "/etc/stack/production/tls/site.crt"
# Its private key (PEM path on the controller, outside the repo; uploaded as a secret).
nginx_tls_key = "/etc/stack/production/tls/site.key"
