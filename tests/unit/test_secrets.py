"""stack.secrets: where secrets come from, and what is refused."""

import os

import pytest

from stack import secrets, validate


def write(path, text, mode=0o600):
    path.write_text(text)
    os.chmod(path, mode)
    secrets._file_cache.clear()
    return path


def test_required_secrets_follow_the_groups():
    off = {"telegraf_enabled": False}
    assert secrets.required_for({"cache_servers"}, off) == [
        "redis_password", "redis_app_password", "redis_monitoring_password", "redis_replica_password", "tls_ca_key",
        "tls_ca_cert"]
    assert "mysql_app_password" in secrets.required_for({"app_servers"}, off)
    assert "tls_ca_key" not in secrets.required_for({"app_servers"}, off)  # clients trust the CA, never sign
    assert secrets.required_for({"testbed"}, off) == ["tls_ca_cert"]


def test_telegraf_on_a_host_needs_the_writer_password():
    assert "influxdb_writer_password" in secrets.required_for({"cache_servers"}, {"telegraf_enabled": True})
    assert "influxdb_writer_password" not in secrets.required_for({"cache_servers"}, {"telegraf_enabled": False})


@pytest.mark.parametrize("data, needed", [
    ({"grafana_enabled": True}, []),  # Grafana's channels are on once given, never required
    ({"grafana_enabled": False, "influxdb_failure_webhook": True}, ["alert_webhook_url"]),
])
def test_only_the_flows_failure_webhook_requires_an_alert_secret(data, needed):
    found = secrets.required_for({"monitoring_servers"}, data)
    assert [n for n in found if n.startswith("alert_")] == needed


def test_environment_variable_wins_over_the_file(tmp_path, monkeypatch):
    f = write(tmp_path / "s.yml", "redis_password: from-file\n")
    monkeypatch.setenv("STACK_REDIS_PASSWORD", "from-env")

    class Host:
        data = {"secrets_file": str(f)}
    assert secrets.get("redis_password", Host) == "from-env"
    monkeypatch.delenv("STACK_REDIS_PASSWORD")
    assert secrets.get("redis_password", Host) == "from-file"


def test_missing_secret_names_its_variable_and_file(tmp_path):
    f = write(tmp_path / "s.yml", "redis_password: x\n")
    assert secrets.missing(["redis_password", "grafana_admin_password"], str(f)) == [
        f"missing secret grafana_admin_password (Grafana's admin user): set STACK_GRAFANA_ADMIN_PASSWORD, "
        f"or add it to {f}"
    ]


def test_missing_secret_without_a_file_says_how_to_give_one():
    assert secrets.missing(["redis_password"]) == [
        "missing secret redis_password (Redis admin user (ops)): set STACK_REDIS_PASSWORD, "
        "or set STACK_SECRETS_FILE to a secrets file that has it"]


def test_backup_secrets_are_not_required_while_backups_are_off():
    assert not [s for s in secrets.required_for(["db_servers"], {"backup_enabled": False})
                if s.startswith(("s3_", "backup_"))]


@pytest.mark.parametrize("group", ["db_servers", "web_servers"])  # the backups; every host's log archive
def test_backup_secrets_are_required_on_every_host_when_backups_are_on(group):
    on = {"backup_enabled": True, "backup_s3_endpoint": "http://s3.example:8333"}
    assert [s for s in secrets.required_for([group], on) if s.startswith(("s3_", "backup_"))] == [
        "s3_access_key_id", "s3_secret_access_key", "backup_age_recipient"]
    assert not [s for s in secrets.required_for([group], {"backup_enabled": False}) if s.startswith(("s3_", "backup_"))]


def test_secrets_file_from_environment_overrides_host_data(tmp_path, monkeypatch):
    good = write(tmp_path / "good.yml", "redis_password: x\n")
    monkeypatch.setenv("STACK_SECRETS_FILE", str(good))
    assert secrets.missing(["redis_password"], str(tmp_path / "absent.yml")) == []


def test_file_readable_by_others_is_refused(tmp_path):
    f = write(tmp_path / "s.yml", "redis_password: x\n", mode=0o644)
    with pytest.raises(secrets.SecretError, match="readable by others"):
        secrets.missing(["redis_password"], str(f))


def test_unknown_name_in_file_is_refused(tmp_path):
    f = write(tmp_path / "s.yml", "redis_pasword: x\n")
    with pytest.raises(secrets.SecretError, match=r"unknown names \['redis_pasword'\]"):
        secrets.missing(["redis_password"], str(f))


def test_secret_problem_is_reported_per_host_by_validation(tmp_path):
    f = write(tmp_path / "s.yml", "redis_password: x\n")
    found = validate.secret_problems("web1", {"cache_servers", "monitoring_servers"}, {"secrets_file": str(f)})
    wanted = secrets.required_for({"cache_servers", "monitoring_servers"}, {"secrets_file": str(f)})
    assert [p.split(" (")[0] for p in found] == [f"web1: missing secret {n}" for n in wanted if n != "redis_password"]
    assert "influxdb_token" in wanted and "redis_password" in wanted


def test_known_values_hold_the_environments_and_the_files_value_and_their_sha256(tmp_path, monkeypatch):
    import hashlib
    import types

    from stack import secrets

    path = tmp_path / "secrets.yml"
    path.write_text("redis_app_password: old-one\n")
    path.chmod(0o600)
    monkeypatch.setenv("STACK_REDIS_APP_PASSWORD", "new-one")
    known = secrets.known_values(types.SimpleNamespace(data={"secrets_file": str(path)}))
    assert {"old-one", "new-one", hashlib.sha256(b"old-one").hexdigest()} <= set(known)
