"""Nginx on web_servers: TLS front with least_conn over every app server,
security headers, maintenance mode. The whole nginx.conf is ours, so `nginx -t`
checks exactly what will run, before it goes live."""

import shlex
from pathlib import Path

from pyinfra import host, inventory
from pyinfra.api import StringCommand
from pyinfra.facts.server import Command
from pyinfra.operations import files, server

from stack import packages, sandbox, services
from stack.shell import argv
from stack.configs import checked_template, file, read, secret_file

TLS_DIR = "/etc/nginx/tls"
ACME_DIR = "/var/www/letsencrypt"
cert, key = f"{TLS_DIR}/site.crt", f"{TLS_DIR}/site.key"
name = host.data.nginx_server_name
certbot_email = host.data.nginx_tls_certbot_email


def exists(path):  # a file or a link to one (certbot's are links)
    return host.get_fact(Command, command=f"test -e {shlex.quote(path)} && echo yes || echo no") == "yes"

packages.present("Nginx", ["nginx", "openssl"])
# Only nginx's master (root) reads them: the workers never see the key.
files.directory(name="TLS directory", path=TLS_DIR, mode="0700", group="root")

if host.data.nginx_tls_self_signed or certbot_email:
    # With certbot this is only the stand-in nginx starts with, until the real one is issued.
    cert_missing = not exists(cert)
    server.shell(
        name="Self-signed certificate" + (" until certbot's is issued" if certbot_email else " (test hosts only)"),
        commands=[StringCommand(
            argv("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "365", "-subj", f"/CN={name}",
                 "-addext", f"subjectAltName=DNS:{name},IP:{host.data.private_address}", "-keyout", key,
                 "-out", cert), "2>/dev/null")],
        _if=lambda: cert_missing,
    )
    files.file(name="Private key root's only", path=key, mode="0600", user="root", group="root")
else:
    file(name="Certificate chain", content=read(host.data.nginx_tls_certificate), dest=cert)
    secret_file(name="Private key", dest=key, content=Path(host.data.nginx_tls_key).read_text())

flag = Path(host.data.nginx_maintenance_flag)
files.directory(name="Maintenance page directory", path=str(flag.parent), mode="0755")
file(name="Maintenance page", content=read("files/nginx/maintenance.html"), dest=f"{flag.parent}/maintenance.html")

# nginx.conf no longer includes sites-enabled; the default site goes too, so that
# nobody re-enables it by accident.
files.link(name="Default site removed", path="/etc/nginx/sites-enabled/default", present=False)
services.kept(name="Nginx running", service="nginx", running=True, enabled=True)
# The master binds 80/443 and drops to www-data for its workers: those capabilities only.
sandbox.drop_in("nginx", write=["/var/log/nginx", "/var/lib/nginx", "/run"],
                capabilities=["CAP_NET_BIND_SERVICE", "CAP_SETUID", "CAP_SETGID", "CAP_DAC_OVERRIDE", "CAP_CHOWN"],
                allow=["@privileged"])
checked_template(
    name="Nginx config",
    src="templates/nginx/nginx.conf.j2",
    dest="/etc/nginx/nginx.conf",
    check="nginx -q -t -c {path}",
    apply="systemctl reload nginx",
    upstream_servers=[f"{h.data.private_address}:{h.data.app_port}" for h in inventory.get_group("app_servers")],
    cert=cert,
    key=key,
    maintenance_dir=str(flag.parent),
    acme_dir=ACME_DIR,
    grafana=next((f"{h.data.private_address}:{h.data.grafana_port}" for h in
                  inventory.get_group("monitoring_servers", []) if h.data.grafana_enabled), None),
)

if certbot_email:
    # After nginx serves the ACME webroot on port 80. The deploy hook also runs on
    # every renewal (certbot.timer): point nginx at the new files and reload it.
    live = f"/etc/letsencrypt/live/{name}"
    packages.present("certbot", ["certbot"])
    files.directory(name="ACME webroot", path=ACME_DIR, mode="0755")
    issued = exists(f"{live}/fullchain.pem")
    server.shell(
        name="Let's Encrypt certificate (certbot, webroot)",
        # Data values are quoted; the hook is a shell string of its own, quoted twice.
        commands=[argv(
            "certbot", "certonly", "--webroot", "-w", ACME_DIR, "-d", name, "--email", certbot_email,
            "--agree-tos", "--non-interactive", "--deploy-hook",
            f"ln -sfn {shlex.quote(live + '/fullchain.pem')} {cert} && "
            f"ln -sfn {shlex.quote(live + '/privkey.pem')} {key} && systemctl reload nginx")],
        _if=lambda: not issued,
    )
