"""tasks/redis.py on the testbed: Redis on web1 (the cache host)."""

import pytest

from tests.e2e.helpers import reach

TLS = "--tls --cacert /etc/ssl/stack/ca.crt"  # the server's address checked against the internal CA


def redis(host, address, *args, password=None, user="admin", tls=TLS, on="web1"):
    """redis-cli on ``on`` against web1's private address; the password goes in the environment."""
    env = f"REDISCLI_AUTH={password} " if password else ""
    who = f"--user {user} " if password else ""
    return host(on).run(env + f"redis-cli {tls} {who}--no-auth-warning -h %s " + " ".join(["%s"] * len(args)),
                        address("web1"), *args)


def test_redis_is_installed_running_and_enabled(host):
    assert host("web1").package("redis-server").is_installed
    assert host("web1").service("redis-server").is_running
    assert host("web1").service("redis-server").is_enabled


def test_listens_only_on_the_private_address(host, address):
    listening = [str(s) for s in host("web1").socket.get_listening_sockets() if s.endswith(":6379")]
    assert listening == [f"tcp://{address('web1')}:6379"]


def test_right_password_is_answered(host, address, secrets):
    assert redis(host, address, "PING", password=secrets["redis_password"]).stdout.strip() == "PONG"


def test_unauthenticated_ping_is_refused(host, address):
    assert "NOAUTH" in redis(host, address, "PING").stdout


def test_a_plaintext_client_gets_nothing(host, address, secrets):
    out = redis(host, address, "PING", password=secrets["redis_password"], tls="")
    assert "PONG" not in out.stdout and out.rc != 0


def test_the_app_user_authenticates_over_tls(host, address, secrets):
    out = redis(host, address, "PING", user="sales", password=secrets["redis_app_password"])
    assert out.stdout.strip() == "PONG", out.stderr


@pytest.mark.parametrize("command", [["ACL", "LIST"], ["CLIENT", "LIST"], ["SAVE"], ["REPLICAOF", "NO", "ONE"]])
def test_the_app_user_may_not_run_admin_commands(host, address, secrets, command):
    out = redis(host, address, *command, user="sales", password=secrets["redis_app_password"])
    assert "NOPERM" in out.stdout + out.stderr


def test_the_monitoring_user_reads_info_and_nothing_else(host, address, secrets):
    pw = secrets["redis_monitoring_password"]
    assert "redis_version" in redis(host, address, "INFO", "server", user="monitor", password=pw).stdout
    assert "NOPERM" in redis(host, address, "GET", "sales:summary", user="monitor", password=pw).stdout


def test_the_replica_user_may_only_replicate(host, address, secrets):
    out = redis(host, address, "GET", "sales:summary", user="replica", password=secrets["redis_replica_password"])
    assert "NOPERM" in out.stdout


def test_wrong_password_is_refused(host, address):
    out = redis(host, address, "PING", password="wrong")
    assert "WRONGPASS" in out.stderr and "PONG" not in out.stdout


@pytest.mark.parametrize("command", ["FLUSHALL", "FLUSHDB", "CONFIG", "DEBUG", "KEYS"])
def test_dangerous_command_is_disabled(host, address, secrets, command):
    out = redis(host, address, command, *(["*"] if command == "KEYS" else []), password=secrets["redis_password"])
    assert "ERR unknown command" in out.stdout


def test_memory_cap_and_policy_are_live(host, address, secrets):
    info = redis(host, address, "INFO", "memory", password=secrets["redis_password"]).stdout
    assert "maxmemory:536870912" in info and "maxmemory_policy:allkeys-lru" in info


def test_config_holds_hashes_not_passwords_and_is_not_world_readable(host, secrets):
    conf = host("web1").file("/etc/redis/redis.conf")
    assert (conf.mode, conf.user, conf.group) == (0o640, "root", "redis")
    assert "supervised systemd" in conf.content_string and "daemonize no" in conf.content_string
    assert "user default off" in conf.content_string
    for name in ("redis_password", "redis_app_password", "redis_monitoring_password"):
        assert secrets[name] not in conf.content_string


def test_only_app_hosts_reach_redis(host):
    assert reach(host("app1"), "web1", 6379) == "open"
    assert reach(host("db1"), "web1", 6379) == "dropped"


def test_kernel_settings_skip_is_announced_in_a_container(first_deploy):
    assert "web1: in a systemd-nspawn container, vm.overcommit_memory and transparent hugepages" \
        in first_deploy.stderr


def test_kernel_settings_are_left_alone_in_a_container(host):
    # the branch that ran is the container's: nothing of the machine's branch is on the host
    assert not host("web1").file("/etc/sysctl.d/60-redis.conf").exists
    assert not host("web1").file("/etc/systemd/system/disable-thp.service").exists
