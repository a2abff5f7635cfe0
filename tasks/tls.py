"""Internal TLS (stack/tls.py): every host trusts the internal CA; the hosts that
serve other hosts (MariaDB, Redis, InfluxDB) get a key and a certificate of their
own, issued on the controller only when the one in place is not good for long."""


from pyinfra import host, logger
from pyinfra.operations import files

from stack import context, hostfacts, packages, secrets, tls
from stack.configs import file, secret_file

SERVERS = {"db_servers", "cache_servers", "monitoring_servers"}

packages.present("ssl-cert group", ["ssl-cert"])  # Debian's group for services that read private keys
files.directory(name="Internal TLS directory", path=tls.DIR, mode="0755")
ca_cert = secrets.get("tls_ca_cert")
# A new CA (a rotation) restarts what reads it, as a new key and certificate do.
changes = context.current().tls_changes
changes[host.name] = [file(name="Internal CA certificate", content=ca_cert, dest=tls.CA_CERT)]

if SERVERS & set(host.groups):
    current = hostfacts.output(f"cat {tls.HOST_CERT} 2>/dev/null || true")
    reason = tls.renewal_reason(current, ca_cert, host.name, host.data.private_address, host.data.tls_renew_days)
    if reason:
        logger.info(f"{host.name}: issuing its TLS certificate ({reason})")
        key, cert = tls.issue(secrets.get("tls_ca_key"), ca_cert, host.name, host.data.private_address,
                              host.data.tls_cert_days)
        # The key first: a certificate is never in place without its key.
        changes[host.name] += [
            secret_file(name="TLS key", dest=tls.HOST_KEY, content=key, mode="0640", group="ssl-cert"),
            file(name="TLS certificate", content=cert, dest=tls.HOST_CERT),
        ]
