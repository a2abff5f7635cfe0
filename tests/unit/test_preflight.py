"""Preflight through the real pyinfra CLI: bad data or a missing secret stops the
run before any host is contacted. The 'host' is a local TCP listener that counts
connections, so 'not contacted' is observed, not assumed."""

import socket
import threading

import pytest

from tests.helpers import made_up_secrets, run_pyinfra


@pytest.fixture
def listener():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.settimeout(0.2)
    seen = {"connections": 0, "port": sock.getsockname()[1]}
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            seen["connections"] += 1
            conn.close()  # no SSH banner: pyinfra fails to connect, which is fine here
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield seen
    stop.set()
    t.join()
    sock.close()


def inventory(tmp_path, port, **db_data):
    # Telegraf is on by default and needs InfluxData's repository named (any
    # URL here: the listener is the only thing ever contacted).
    data = {"ssh_hostname": "127.0.0.1", "ssh_port": port, "ssh_user": "nobody",
            "private_address": "10.99.0.1", "mysql_role": "primary",
            "influxdb_apt_url": "https://packages.example.org/influxdata",
            "influxdb_apt_key_url": "https://packages.example.org/influxdata.key", **db_data}
    # Named like an environment so its group is a known one.
    path = tmp_path / "staging.py"
    path.write_text(f"db_servers = [('target', {data!r})]\n")
    return path


def secrets_file(tmp_path, leave_out=()):
    return {"STACK_SECRETS_FILE": str(made_up_secrets(tmp_path / "secrets.yml", leave_out))}


def test_valid_data_does_reach_the_host(tmp_path, listener):
    # The control for the tests below: with good data the listener sees pyinfra.
    proc = run_pyinfra(inventory(tmp_path, listener["port"]), "deploy.py",
                       env=secrets_file(tmp_path), json_output=False, timeout=60)
    assert "preflight" not in proc.stderr
    assert listener["connections"] >= 1


def test_bad_data_is_stopped_before_any_connection(tmp_path, listener):
    inv = inventory(tmp_path, listener["port"], base_sshd_port=70000, mysql_role=None)
    proc = run_pyinfra(inv, "deploy.py", env=secrets_file(tmp_path), json_output=False, timeout=60)
    assert proc.returncode != 0
    assert "preflight: 3 problem(s), no host was contacted:" in proc.stderr
    assert "target: base_sshd_port: 70000 is not a TCP port (1-65535)" in proc.stderr
    assert "target: mysql_role is required for db_servers" in proc.stderr
    assert "topology: db_servers need exactly one mysql_role='primary', found none" in proc.stderr
    assert listener["connections"] == 0


def test_missing_secret_is_stopped_before_any_connection(tmp_path, listener):
    env = secrets_file(tmp_path, leave_out=["mysql_replication_password"])
    proc = run_pyinfra(inventory(tmp_path, listener["port"]), "deploy.py", env=env,
                       json_output=False, timeout=60)
    assert proc.returncode != 0
    assert "missing secret mysql_replication_password" in proc.stderr
    assert "set STACK_MYSQL_REPLICATION_PASSWORD" in proc.stderr
    assert listener["connections"] == 0


def test_a_single_task_file_is_checked_too(tmp_path, listener):
    inv = inventory(tmp_path, listener["port"], base_timezone="Nowhere/Special")
    proc = run_pyinfra(inv, "tasks/base.py", env=secrets_file(tmp_path), json_output=False, timeout=60)
    assert proc.returncode != 0
    assert "base_timezone: 'Nowhere/Special' is not a tz database name" in proc.stderr
    assert listener["connections"] == 0


def test_an_unnamed_vendor_repository_is_stopped_before_any_connection(tmp_path, listener):
    inv = inventory(tmp_path, listener["port"], influxdb_apt_url=None)
    proc = run_pyinfra(inv, "deploy.py", env=secrets_file(tmp_path), json_output=False, timeout=60)
    assert proc.returncode != 0
    assert "target: Telegraf is enabled, so influxdb_apt_url and influxdb_apt_key_url are required" in proc.stderr
    assert listener["connections"] == 0
