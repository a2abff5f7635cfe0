"""The internal CA (stack/tls.py): what it issues verifies, and a certificate is
issued again exactly when it must be."""

import socket
import ssl
import threading

import pytest

from stack import tls

CA_KEY, CA_CERT = tls.new_ca()


def test_a_host_certificate_verifies_against_the_ca_by_address(tmp_path):
    key, cert = tls.issue(CA_KEY, CA_CERT, "db1", "127.0.0.1", days=30)
    (tmp_path / "k").write_text(key), (tmp_path / "c").write_text(cert), (tmp_path / "ca").write_text(CA_CERT)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(tmp_path / "c", tmp_path / "k")
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve():
        conn, _ = listener.accept()
        with server_ctx.wrap_socket(conn, server_side=True) as s:
            s.sendall(b"hello")

    threading.Thread(target=serve, daemon=True).start()
    client_ctx = ssl.create_default_context(cafile=tmp_path / "ca")  # hostname checked, as the app does
    client_ctx.verify_flags |= ssl.VERIFY_X509_STRICT
    with socket.create_connection(("127.0.0.1", port)) as raw, \
            client_ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
        assert s.recv(5) == b"hello"
    listener.close()


def test_a_good_certificate_is_kept():
    _, cert = tls.issue(CA_KEY, CA_CERT, "db1", "10.0.0.1", days=365)
    assert tls.renewal_reason(cert, CA_CERT, "db1", "10.0.0.1", renew_days=30) is None


@pytest.mark.parametrize("cert, name, address, reason", [
    (None, "db1", "10.0.0.1", "no certificate yet"),
    ("", "db1", "10.0.0.1", "no certificate yet"),
    ("other-ca", "db1", "10.0.0.1", "signed by another CA"),
    ("good", "db2", "10.0.0.1", "does not name db2 and 10.0.0.1"),
    ("good", "db1", "10.0.0.9", "does not name db1 and 10.0.0.9"),
    ("expiring", "db1", "10.0.0.1", "expires in 9 days"),
])
def test_a_certificate_is_issued_again_when_it_must(cert, name, address, reason):
    other_key, other_cert = tls.new_ca()
    pem = {"other-ca": tls.issue(other_key, other_cert, "db1", "10.0.0.1", days=365)[1],
           "good": tls.issue(CA_KEY, CA_CERT, "db1", "10.0.0.1", days=365)[1],
           "expiring": tls.issue(CA_KEY, CA_CERT, "db1", "10.0.0.1", days=10)[1]}.get(cert, cert)
    assert tls.renewal_reason(pem, CA_CERT, name, address, renew_days=30) == reason


def test_a_host_certificate_never_outlives_its_ca():
    short_key, short_cert = tls.new_ca(days=10)
    _, cert = tls.issue(short_key, short_cert, "db1", "10.0.0.1", days=365)
    assert tls.renewal_reason(cert, short_cert, "db1", "10.0.0.1", renew_days=30) == "expires in 9 days"


def test_new_ca_prints_lines_for_the_secrets_file(capsys):
    import yaml

    assert tls.main(["tls", "new-ca"]) == 0
    data = yaml.safe_load(capsys.readouterr().out)
    assert sorted(data) == ["tls_ca_cert", "tls_ca_key"]
    assert tls.renewal_reason(tls.issue(data["tls_ca_key"], data["tls_ca_cert"], "h", "10.0.0.1", 365)[1],
                              data["tls_ca_cert"], "h", "10.0.0.1", 30) is None


def test_a_good_ca_has_no_problems():
    assert tls.ca_problems(CA_KEY, CA_CERT, min_days=30) == []
    assert tls.ca_problems(None, CA_CERT, min_days=30) == []  # a host that only trusts it


@pytest.mark.parametrize("key, cert, problem", [
    (CA_KEY, "not a certificate", "tls_ca_cert is not a PEM certificate"),
    ("not a key", CA_CERT, "tls_ca_key is not an unencrypted PEM private key"),
    (tls.new_ca()[0], CA_CERT, "tls_ca_key does not belong to tls_ca_cert"),
    (CA_KEY, tls.issue(CA_KEY, CA_CERT, "db1", "10.0.0.1", 365)[1], "tls_ca_cert is not a CA certificate"),
])
def test_a_bad_ca_is_refused_with_what_is_wrong(key, cert, problem):
    assert any(p.startswith(problem) for p in tls.ca_problems(key, cert, min_days=30))


def test_a_ca_about_to_expire_is_refused():
    key, cert = tls.new_ca(days=20)
    assert "expires" in tls.ca_problems(key, cert, min_days=30)[0]
