"""What tasks/nginx.py does with a config nginx -t rejects (an upstream with no
servers): the check must stop it before it goes live."""

from stack.configs import checked_template

checked_template(
    name="nginx config with an empty upstream",
    src="templates/nginx/nginx.conf.j2",
    dest="/etc/nginx/nginx.conf",
    check="nginx -q -t -c {path}",
    apply="systemctl reload nginx",
    upstream_servers=[],
    cert="/etc/nginx/tls/site.crt",
    key="/etc/nginx/tls/site.key",
    maintenance_dir="/var/www/maintenance",
    acme_dir="/var/www/letsencrypt",
    grafana=None,
)
