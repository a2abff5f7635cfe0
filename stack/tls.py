"""The internal CA: certificates for the traffic between hosts (MariaDB, Redis,
InfluxDB), issued on the controller.

The CA is two secrets, ``tls_ca_key`` and ``tls_ca_cert`` (PEM). Its key never
leaves the controller. Each server host gets a key of its own and a certificate
naming its host name and private address, issued again when it is missing, was
signed by another CA, names something else, or expires within
``tls_renew_days``. Otherwise nothing is issued and nothing uploaded.

    python -m stack.tls new-ca            a new CA, as YAML lines for the secrets file
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import sys

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from stack import context

# Where every host keeps them: ca.crt and host.crt public, host.key 0640 root:ssl-cert
# (Debian's group for services that read private keys).
DIR = "/etc/ssl/stack"
CA_CERT, HOST_CERT, HOST_KEY = f"{DIR}/ca.crt", f"{DIR}/host.crt", f"{DIR}/host.key"
def renewed(host) -> bool:
    """A new CA certificate, key or certificate was put on ``host`` in this run (tasks/tls.py
    lists their operations in the run's context; asked when operations run)."""
    return any(op.did_change() for op in context.current().tls_changes.get(host.name, []))


def restart_on_renewal(service: str, config):
    """``service`` restarted when its TLS files changed in this run, unless a change of
    its ``config`` (an operation) restarted it already."""
    from pyinfra import host
    from pyinfra.operations import systemd

    systemd.service(name=f"{service} restarted for its new TLS files", service=service, restarted=True,
                    _if=lambda: renewed(host) and not config.did_change())


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _pem_key(key) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def new_ca(days: int = 3650, name: str = "stack internal CA") -> tuple[str, str]:
    """(key PEM, certificate PEM) of a new CA that may sign server certificates only."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(_now() - datetime.timedelta(minutes=5))
            .not_valid_after(_now() + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return _pem_key(key), cert.public_bytes(serialization.Encoding.PEM).decode()


def issue(ca_key_pem: str, ca_cert_pem: str, dns_name: str, address: str, days: int) -> tuple[str, str]:
    """(key PEM, certificate PEM) for one server: its name and address, signed by the CA."""
    ca_key = serialization.load_pem_private_key(ca_key_pem.encode(), password=None)
    ca_cert = x509.load_pem_x509_certificate(ca_cert_pem.encode())
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_name)]))
            .issuer_name(ca_cert.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(_now() - datetime.timedelta(minutes=5))
            .not_valid_after(min(_now() + datetime.timedelta(days=days), ca_cert.not_valid_after_utc))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            # servers, and clients too: a Redis replica presents it to its primary
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(dns_name),
                                                        x509.IPAddress(ipaddress.ip_address(address))]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return _pem_key(key), cert.public_bytes(serialization.Encoding.PEM).decode()


def ca_problems(key_pem: str | None, cert_pem: str | None, min_days: int) -> list[str]:
    """What is wrong with the CA the secrets hold (None: that secret is not needed here)."""
    try:
        cert = x509.load_pem_x509_certificate((cert_pem or "").encode()) if cert_pem is not None else None
    except ValueError:
        return ["tls_ca_cert is not a PEM certificate (make a CA with: python -m stack.tls new-ca)"]
    try:
        key = serialization.load_pem_private_key(key_pem.encode(), password=None) if key_pem is not None else None
    except (ValueError, TypeError):
        return ["tls_ca_key is not an unencrypted PEM private key (make a CA with: python -m stack.tls new-ca)"]
    out = []
    if cert is not None:
        try:
            is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except x509.ExtensionNotFound:
            is_ca = False
        if not is_ca:
            out.append("tls_ca_cert is not a CA certificate")
        if cert.not_valid_after_utc - _now() < datetime.timedelta(days=min_days):
            out.append(f"tls_ca_cert expires {cert.not_valid_after_utc:%Y-%m-%d}: within tls_renew_days, so host "
                       "certificates could not outlive it; rotate the CA (docs/runbook.md)")
        if key is not None and key.public_key().public_bytes(serialization.Encoding.DER,
                                                            serialization.PublicFormat.SubjectPublicKeyInfo) != \
                cert.public_key().public_bytes(serialization.Encoding.DER,
                                               serialization.PublicFormat.SubjectPublicKeyInfo):
            out.append("tls_ca_key does not belong to tls_ca_cert")
    return out


def renewal_reason(cert_pem: str | None, ca_cert_pem: str, dns_name: str, address: str, renew_days: int) -> str | None:
    """Why the host's certificate must be issued again, or None when it is good."""
    if not cert_pem or "BEGIN CERTIFICATE" not in cert_pem:
        return "no certificate yet"
    cert = x509.load_pem_x509_certificate(cert_pem.encode())
    ca_cert = x509.load_pem_x509_certificate(ca_cert_pem.encode())
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return "signed by another CA"
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return "names nothing"
    if dns_name not in names.get_values_for_type(x509.DNSName) or \
            ipaddress.ip_address(address) not in names.get_values_for_type(x509.IPAddress):
        return f"does not name {dns_name} and {address}"
    left = cert.not_valid_after_utc - _now()
    if left < datetime.timedelta(days=renew_days):
        return f"expires in {max(left.days, 0)} days"
    return None


def main(argv: list[str]) -> int:
    if argv[1:] != ["new-ca"]:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    key, cert = new_ca()
    print(f"tls_ca_key: {json.dumps(key)}\ntls_ca_cert: {json.dumps(cert)}")  # JSON strings are YAML
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
