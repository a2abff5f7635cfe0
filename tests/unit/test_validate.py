"""stack.validate: what a bad inventory is told before any host is contacted."""

import pytest
from stack import secrets, validate
from stack.preflight import hosts_of
from tests.helpers import load_inventory


def defaults():
    return hosts_of(load_inventory("staging"))


@pytest.mark.parametrize("name", ["production", "staging"])
def test_shipped_inventory_is_valid(name):
    assert validate.problems(hosts_of(load_inventory(name)), check_secrets_for=set()) == []


@pytest.mark.parametrize("key, value, expected", [
    ("base_sshd_port", 70000, "base_sshd_port: 70000 is not a TCP port"),
    ("base_sshd_port", "22", "base_sshd_port: '22' is not a TCP port"),
    ("private_address", "10.0.0.300", "private_address: '10.0.0.300' is not an IP address"),
    ("base_timezone", "Mars/Olympus", "is not a tz database name"),
    ("base_apt_proxy", "proxy:3128", "is not an http(s) URL"),
    ("base_firewall_ssh_from", [], "base_firewall_ssh_from: is empty"),
    ("base_firewall_ssh_from", ["10.0.0.0/33"], "is not an address or CIDR network"),
    ("base_ntp_servers", ["ntp example"], "is not a host name"),
    ("base_sshd_allow_users", ["Root!"], "is not a Unix user name"),
    ("base_firewall_services", {"db_servers": [{"port": 3306, "from": ["dbs"]}]}, "'dbs' is not one of"),
    ("base_firewall_services", {"dbs": []}, "unknown group 'dbs'"),
    ("base_firewall_services", {"db_servers": [{"port": "mysql_prot", "from": "any"}]},
     "'mysql_prot' is not a port number or a *_port key"),
    ("mysql_innodb_buffer_pool_size", "1 GB", "is not a size like 256M or 1G"),
    ("mysql_max_connections", 5, "is not a whole number from 10 to 100000"),
    ("mysql_slow_query_log", "yes", "is not true or false"),
    ("mysql_app_privileges", ["SELECT; DROP"], "is not a privilege name"),
])
def test_bad_value_is_reported_with_key_and_reason(key, value, expected):
    hosts = defaults()
    hosts["db1.staging.example.com"][1][key] = value
    found = validate.problems(hosts, check_secrets_for=set())
    assert any(p.startswith("db1.staging.example.com: ") and expected in p for p in found), found


@pytest.mark.parametrize("key, value, expected", [
    ("redis_maxmemory", "512MB", "is not a Redis size like 512mb"),
    ("redis_maxmemory_policy", "lru", "is not one of noeviction"),
    ("redis_rename_commands", {"FLUSHALL": "no way"}, "is not COMMAND -> new name"),
])
def test_bad_cache_value_is_reported(key, value, expected):
    hosts = defaults()
    hosts["web1.staging.example.com"][1][key] = value
    found = validate.problems(hosts, check_secrets_for=set())
    assert any(p.startswith("web1.staging.example.com: ") and expected in p for p in found), found


def test_an_online_change_that_would_stop_before_it_ever_pauses_is_refused():
    hosts = defaults()
    hosts["app1.staging.example.com"][1].update(app_migration_online_max_load=50,
                                                app_migration_online_critical_load=50)
    assert validate.problems(hosts, check_secrets_for=set()) == [
        "app1.staging.example.com: app_migration_online_max_load (50) must be less than "
        "app_migration_online_critical_load (50), or an online change stops before it ever pauses"]


def test_unknown_key_with_a_component_prefix_is_a_typo():
    hosts = defaults()
    hosts["app1.staging.example.com"][1]["base_sshd_prot"] = 22
    assert validate.problems(hosts, check_secrets_for=set()) == [
        "app1.staging.example.com: unknown key 'base_sshd_prot' (a typo?)"
    ]


def test_deploying_with_an_ssh_password_is_refused():
    # base turns password login off: a password-only deploy would lock itself out
    hosts = defaults()
    hosts["app1.staging.example.com"][1]["ssh_password"] = "hunter2"
    found = validate.problems(hosts, check_secrets_for=set())
    assert any(p.startswith("app1.staging.example.com: ssh_password is set") for p in found), found
    assert not any("hunter2" in p for p in found)


def test_missing_required_key_is_reported():
    hosts = defaults()
    del hosts["app1.staging.example.com"][1]["private_address"]
    assert "app1.staging.example.com: private_address is required" in validate.problems(
        hosts, check_secrets_for=set())


def test_db_host_without_role_is_reported():
    hosts = defaults()
    del hosts["db2.staging.example.com"][1]["mysql_role"]
    assert "db2.staging.example.com: mysql_role is required for db_servers" in validate.problems(
        hosts, check_secrets_for=set())


def test_unknown_group_is_reported():
    hosts = defaults()
    hosts["app1.staging.example.com"][0].add("app_server")
    assert any("unknown group 'app_server'" in p for p in validate.problems(hosts, check_secrets_for=set()))


def test_two_primaries_are_reported():
    hosts = defaults()
    hosts["db2.staging.example.com"][1]["mysql_role"] = "primary"
    found = validate.problems(hosts, check_secrets_for=set())
    assert any(p.startswith("topology: db_servers need exactly one") for p in found), found


def test_web_servers_without_app_servers_are_reported():
    hosts = {n: v for n, v in defaults().items() if "app_servers" not in v[0]}
    assert "topology: web_servers are present but app_servers is empty (nothing to proxy to)" in \
        validate.problems(hosts, check_secrets_for=set())


def test_shared_private_address_is_reported():
    hosts = defaults()
    hosts["app2.staging.example.com"][1]["private_address"] = hosts["app1.staging.example.com"][1]["private_address"]
    found = validate.problems(hosts, check_secrets_for=set())
    assert any(p.startswith("topology:") and "share private_address" in p for p in found), found


def test_all_problems_are_listed_at_once():
    hosts = defaults()
    hosts["db1.staging.example.com"][1]["base_sshd_port"] = 0
    hosts["app1.staging.example.com"][1]["base_timezone"] = "Nowhere"
    hosts["db2.staging.example.com"][1]["mysql_role"] = "primary"
    assert len(validate.problems(hosts, check_secrets_for=set())) == 3


HOSTILE = ["$(touch /tmp/pwned)", "`id`", "a'b", 'a"b', "a;b", "a b", "a|b", "a&b", "a>b", "a\nb"]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_shell_syntax_in_an_email_is_refused(hostile):
    hosts = defaults()
    web = next(n for n, (g, _) in hosts.items() if "web_servers" in g)
    hosts[web][1]["nginx_tls_certbot_email"] = f"ops{hostile}@example.com"
    assert any(f"{web}: nginx_tls_certbot_email:" in p for p in validate.problems(hosts, check_secrets_for=set()))


@pytest.mark.parametrize("hostile", HOSTILE)
def test_shell_syntax_in_a_url_is_refused(hostile):
    hosts = defaults()
    hosts["db1.staging.example.com"][1]["influxdb_apt_key_url"] = f"https://mirror.example/key{hostile}.asc"
    assert any("db1.staging.example.com: influxdb_apt_key_url:" in p
               for p in validate.problems(hosts, check_secrets_for=set()))


def test_ssh_user_must_be_a_unix_user_name():
    hosts = defaults()
    hosts["db1.staging.example.com"][1]["ssh_user"] = "deploy; reboot"
    assert any("ssh_user: 'deploy; reboot' is not a Unix user name" in p
               for p in validate.problems(hosts, check_secrets_for=set()))


def test_an_inventory_of_any_name_is_its_own_environment():
    # inventories/eu-prod.py: pyinfra puts every host in the group "eu-prod"
    hosts = {n: ({*(g - {"staging"}), "eu-prod"}, d) for n, (g, d) in defaults().items()}
    assert validate.problems(hosts, check_secrets_for=set()) == []


def test_a_group_that_only_some_hosts_are_in_is_unknown():
    hosts = defaults()
    hosts["db1.staging.example.com"][0].add("eu-prod")
    assert validate.problems(hosts, check_secrets_for=set()) == [
        "db1.staging.example.com: unknown group 'eu-prod' (known: db_servers, cache_servers, app_servers, "
        "web_servers, monitoring_servers, base_servers)"]


def test_a_missing_certificate_file_is_reported_for_the_hosts_the_run_touches():
    hosts = defaults()
    web = next(n for n, (g, _) in hosts.items() if "web_servers" in g)
    found = validate.problems(hosts, check_secrets_for={web})
    assert f"{web}: nginx_tls_certificate: /etc/stack/staging/tls/site.crt is not a file on this machine " \
           "(paths are read on the controller, relative to the repository)" in found


def test_a_missing_app_source_is_reported():
    hosts = defaults()
    app = next(n for n, (g, _) in hosts.items() if "app_servers" in g)
    hosts[app][1]["app_source"] = "files/no-such-app"
    assert any(p.startswith(f"{app}: app_source: files/no-such-app is not a directory")
               for p in validate.problems(hosts, check_secrets_for={app}))


def grafana_host(monkeypatch, **given):
    """The staging monitoring host with Grafana on, every secret it needs set, and ``given``."""
    hosts = defaults()
    mon = next(n for n, (g, _) in hosts.items() if "monitoring_servers" in g)
    groups, data = hosts[mon]
    data.update(grafana_enabled=True, grafana_alert_emails=[], secrets_file=None)
    monkeypatch.delenv("STACK_SECRETS_FILE", raising=False)
    for name in secrets.SECRETS:
        monkeypatch.delenv(secrets.env_var(name), raising=False)
    for name in secrets.required_for(groups, data):
        monkeypatch.setenv(secrets.env_var(name), "x" * 16)
    for name, value in given.items():
        monkeypatch.setenv(secrets.env_var(name), value)
    return {mon: hosts[mon]}, mon


def test_grafana_with_no_channel_for_warnings_and_errors_is_refused(monkeypatch):
    hosts, mon = grafana_host(monkeypatch, alert_pagerduty_key="pd-key")  # pages criticals only
    assert f"{mon}: no alert channel is on, so warnings and errors would reach nobody: set grafana_alert_emails, " \
           "or give the alert_slack_url or alert_webhook_url secret" in validate.problems(hosts)


def test_preflight_names_each_alert_channel_left_off(monkeypatch):
    hosts, mon = grafana_host(monkeypatch, alert_webhook_url="https://hooks.example/x")
    assert validate.notes(hosts) == [
        f"{mon}: alert channel slack is off until the alert_slack_url secret is given (STACK_ALERT_SLACK_URL)",
        f"{mon}: alert channel pagerduty is off until the alert_pagerduty_key secret is given "
        "(STACK_ALERT_PAGERDUTY_KEY)",
        f"{mon}: alert channel email is off until grafana_alert_emails has an address"]
