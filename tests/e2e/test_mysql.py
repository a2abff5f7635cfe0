"""tasks/mysql.py on the testbed: MariaDB primary db1 and replica db2, the
client on the app hosts. dev-sec mysql-baseline items are ported where they apply."""

import time
import uuid

import pytest

from tests.e2e.helpers import pyinfra_on_testbed, reach
from tests.helpers import changed_hosts

TLS = "--ssl-ca=/etc/ssl/stack/ca.crt --ssl-verify-server-cert"  # the server's name checked against the CA


def sql(h, statement, user=None, password=None, on=None, database="sales", tls=TLS):
    """Run SQL on a testbed host: as root over the socket, or as ``user`` over TCP to ``on``."""
    if user is None:
        return h.run("mariadb -N -B -e %s", statement)
    return h.run(f"MYSQL_PWD=%s mariadb {tls} -N -B -h %s -u %s -D %s -e %s", password, on, user, database,
                 statement)


@pytest.mark.parametrize("name", ["db1", "db2"])
def test_server_is_installed_running_and_enabled(host, name):
    assert host(name).package("mariadb-server").is_installed
    assert host(name).service("mariadb").is_running
    assert host(name).service("mariadb").is_enabled


def test_app_hosts_have_only_the_client(host):
    assert host("app1").package("mariadb-client").is_installed
    assert not host("app1").package("mariadb-server").is_installed


@pytest.mark.parametrize("name", ["db1", "db2"])
def test_listens_only_on_the_private_address(host, address, name):
    listening = [str(s) for s in host(name).socket.get_listening_sockets() if s.endswith(":3306")]
    assert listening == [f"tcp://{address(name)}:3306"]


def test_root_over_tcp_is_refused(host, secrets):
    out = sql(host("db2"), "SELECT 1", user="root", password=secrets["mysql_root_password"], on="db1")
    assert out.rc != 0 and "Access denied" in out.stderr


def test_app_user_works_on_its_own_database(host, secrets):
    out = sql(host("app1"), "SELECT DATABASE()", user="sales", password=secrets["mysql_app_password"],
              on="db1")
    assert out.rc == 0, out.stderr


def test_a_plaintext_client_is_refused(host, secrets):
    out = sql(host("app1"), "SELECT 1", user="sales", password=secrets["mysql_app_password"], on="db1",
              tls="--skip-ssl")
    # the account requires TLS (10.11 says so at login); 11.8 refuses the transport first
    refused = ("Access denied", "insecure transport are prohibited")
    assert out.rc != 0 and any(why in out.stderr for why in refused)


@pytest.mark.parametrize("name", ["db1", "db2"])
def test_the_server_refuses_plaintext_for_every_account(host, name):
    # ... and so does the server, for any account over TCP (the socket is local)
    assert sql(host(name), "SELECT @@require_secure_transport, @@have_ssl").stdout.split() == ["1", "YES"]


def test_the_app_connection_is_encrypted(host, secrets):
    out = sql(host("app1"), "SHOW SESSION STATUS LIKE 'Ssl_version'", user="sales",
              password=secrets["mysql_app_password"], on="db1")
    assert out.stdout.split() in (["Ssl_version", "TLSv1.3"], ["Ssl_version", "TLSv1.2"]), out.stderr


def test_app_user_cannot_change_the_schema(host, secrets):
    out = sql(host("app1"), "CREATE TABLE app_may_not (id INT)", user="sales",
              password=secrets["mysql_app_password"], on="db1")
    assert out.rc != 0 and "CREATE command denied" in out.stderr


def test_migration_user_can_change_the_schema_of_its_database_only(host, secrets):
    pw = secrets["mysql_migration_password"]
    out = sql(host("app1"), "CREATE TABLE migration_probe (id INT); DROP TABLE migration_probe",
              user="sales_migrate", password=pw, on="db1")
    assert out.rc == 0, out.stderr
    out = sql(host("app1"), "SELECT user FROM mysql.user", user="sales_migrate", password=pw, on="db1")
    assert out.rc != 0 and "denied" in out.stderr


def test_app_user_cannot_read_another_database(host, secrets):
    out = sql(host("app1"), "SELECT user FROM mysql.user", user="sales",
              password=secrets["mysql_app_password"], on="db1")
    assert out.rc != 0 and "denied" in out.stderr


def test_app_user_is_refused_from_a_host_that_is_not_an_app_host(host, secrets):
    out = sql(host("db2"), "SELECT 1", user="sales", password=secrets["mysql_app_password"], on="db1")
    assert out.rc != 0 and "Access denied" in out.stderr


@pytest.mark.parametrize("name", ["db1", "db2"])
def test_no_account_has_a_wildcard_host(host, name):
    assert sql(host(name), "SELECT CONCAT(User,'@',Host) FROM mysql.user WHERE Host = '%'").stdout == ""


@pytest.mark.parametrize("name", ["db1", "db2"])
def test_no_unlocked_account_has_an_empty_password(host, name):
    # mariadb.sys has no password but is locked: it cannot log in.
    out = sql(host(name), "SELECT CONCAT(User,'@',Host) FROM mysql.global_priv "
                          "WHERE IFNULL(JSON_VALUE(Priv,'$.authentication_string'),'') = '' "
                          "AND JSON_VALUE(Priv,'$.plugin') = 'mysql_native_password' "
                          "AND IFNULL(JSON_VALUE(Priv,'$.account_locked'),'false') NOT IN ('1','true')")
    assert out.rc == 0 and out.stdout == ""


def test_no_anonymous_user_and_no_test_database(host):
    assert sql(host("db1"), "SELECT COUNT(*) FROM mysql.user WHERE User = ''").stdout.strip() == "0"
    assert sql(host("db1"), "SHOW DATABASES LIKE 'test'").stdout == ""


@pytest.mark.parametrize("name", ["db1", "db2"])
def test_config_and_datadir_are_not_world_readable(host, name):
    cnf = host(name).file("/etc/mysql/mariadb.conf.d/90-stack.cnf")
    assert (cnf.mode, cnf.user, cnf.group) == (0o640, "root", "mysql")
    datadir = host(name).file("/var/lib/mysql")
    assert (datadir.mode, datadir.user) == (0o750, "mysql")
    state = host(name).file("/etc/stack/mysql.json")
    assert (state.mode, state.user) == (0o600, "root")


def test_hardening_and_seed_values_are_live(host):
    values = sql(host("db1"), "SELECT @@local_infile, @@have_symlink, @@secure_file_priv, @@max_connections, "
                              "@@long_query_time, @@slow_query_log, @@binlog_format, "
                              "@@collation_server, @@innodb_log_file_size").stdout.split()
    assert values == ["0", "DISABLED", "/var/lib/mysql-files/", "200", "2.000000", "1", "ROW",
                      "utf8mb4_unicode_ci", str(256 * 1024 * 1024)]


def test_replica_is_read_only_and_replicates_with_gtid(host):
    assert sql(host("db2"), "SELECT @@read_only").stdout.strip() == "1"
    assert sql(host("db1"), "SELECT @@read_only").stdout.strip() == "0"
    status = host("db2").check_output("mariadb -e 'SHOW SLAVE STATUS\\G'")
    assert "Using_Gtid: Slave_Pos" in status
    assert "Slave_IO_Running: Yes" in status and "Slave_SQL_Running: Yes" in status


def test_replication_is_encrypted_and_checks_the_primary(host):
    status = host("db2").check_output("mariadb -e 'SHOW SLAVE STATUS\\G'")
    assert "Master_SSL_Allowed: Yes" in status and "Master_SSL_Verify_Server_Cert: Yes" in status
    assert "Master_SSL_CA_File: /etc/ssl/stack/ca.crt" in status


def test_a_replica_set_up_before_tls_is_switched_over_without_a_reseed(host, probe_table):
    # as a replica from before this deploy had TLS: plaintext, which the primary now refuses
    db2 = host("db2")
    db2.run_expect([0], "mariadb -e 'STOP SLAVE; CHANGE MASTER TO MASTER_SSL=0, MASTER_SSL_VERIFY_SERVER_CERT=0; "
                        "START SLAVE'")
    assert db2.run("stack-mysql replica --check").rc == 1
    out = db2.run_expect([0], "stack-mysql replica --ensure")
    assert "now over TLS" in out.stdout and "seeding" not in out.stdout
    status = db2.check_output("mariadb -e 'SHOW SLAVE STATUS\\G'")
    assert "Master_SSL_Allowed: Yes" in status and "Master_SSL_Verify_Server_Cert: Yes" in status
    sql(host("db1"), f"INSERT INTO sales.{probe_table} VALUES ('after-the-switch')")
    for _ in range(30):
        if sql(db2, f"SELECT token FROM sales.{probe_table}").stdout.strip() == "after-the-switch":
            return
        time.sleep(0.5)
    pytest.fail("a row written after the switch did not reach the replica")


def test_every_network_account_requires_tls(host):
    accounts = sql(host("db1"), "SELECT CONCAT(User, '@', Host, ':', ssl_type) FROM mysql.user "
                                "WHERE Host <> 'localhost' AND User <> 'root'").stdout.split()
    assert accounts and all(a.endswith(":ANY") for a in accounts), accounts


@pytest.fixture
def probe_table(host):
    assert sql(host("db1"), "CREATE TABLE sales.e2e_probe (token CHAR(32) PRIMARY KEY)").rc == 0
    yield "e2e_probe"
    sql(host("db1"), "DROP TABLE IF EXISTS sales.e2e_probe")


def test_row_written_on_primary_appears_on_replica(host, secrets, probe_table):
    token = uuid.uuid4().hex
    pw = secrets["mysql_app_password"]
    write = sql(host("app1"), f"INSERT INTO {probe_table} VALUES ('{token}')", user="sales", password=pw, on="db1")
    assert write.rc == 0, write.stderr
    for _ in range(30):
        seen = sql(host("app2"), f"SELECT token FROM {probe_table} WHERE token = '{token}'", user="sales",
                   password=pw, on="db2")
        if seen.stdout.strip() == token:
            return
        time.sleep(0.5)
    pytest.fail(f"row not replicated to db2 in 15s: {seen.stderr}")


def test_replica_refuses_writes_from_the_app_user(host, secrets, probe_table):
    time.sleep(1)  # the table has reached the replica
    out = sql(host("app1"), f"INSERT INTO {probe_table} VALUES ('written-on-the-replica')",
              user="sales", password=secrets["mysql_app_password"], on="db2")
    assert out.rc != 0 and "--read-only" in out.stderr


def test_web_host_cannot_reach_mysql_but_app_host_can(host):
    assert reach(host("web1"), "db1", 3306) == "dropped"
    assert reach(host("app1"), "db1", 3306) == "open"


def main_pid_start(h):
    return h.check_output("systemctl show mariadb -p InvocationID --value")


def test_buffer_pool_change_restarts_once_then_settles(host):
    before = main_pid_start(host("db2"))
    changed = pyinfra_on_testbed("deploy.py", "--limit", "db2", "--data", "mysql_innodb_buffer_pool_size=384M")
    assert changed.returncode == 0, changed.stderr[-3000:]
    assert changed_hosts(changed.results) == {"tasks/mysql.py | MySQL config": ["db2"]}
    assert main_pid_start(host("db2")) != before
    assert sql(host("db2"), "SELECT @@innodb_buffer_pool_size").stdout.strip() == str(384 * 1024 * 1024)

    again = pyinfra_on_testbed("deploy.py", "--limit", "db2", "--data", "mysql_innodb_buffer_pool_size=384M")
    assert again.returncode == 0 and changed_hosts(again.results) == {}

    back = pyinfra_on_testbed("deploy.py", "--limit", "db2")  # leave db2 as the data says
    assert back.returncode == 0
    assert sql(host("db2"), "SELECT @@innodb_buffer_pool_size").stdout.strip() == str(256 * 1024 * 1024)


def test_changed_app_password_is_applied_and_never_shown(host, secrets):
    new = "rotated-" + uuid.uuid4().hex
    rotated = pyinfra_on_testbed("-vvv", "deploy.py", "--limit", "db_servers",
                                 env={"STACK_MYSQL_APP_PASSWORD": new})
    try:
        assert rotated.returncode == 0, rotated.stderr[-3000:]
        assert "tasks/mysql.py | MySQL databases, users and grants (primary)" in changed_hosts(rotated.results)
        # -vvv prints every remote command line: the secret is on none of them
        assert new not in rotated.stdout + rotated.stderr
        assert sql(host("app1"), "SELECT 1", user="sales", password=new, on="db1").rc == 0
        old = sql(host("app1"), "SELECT 1", user="sales", password=secrets["mysql_app_password"], on="db1")
        assert old.rc != 0
    finally:
        restored = pyinfra_on_testbed("deploy.py", "--limit", "db_servers")
    assert restored.returncode == 0
    assert sql(host("app1"), "SELECT 1", user="sales", password=secrets["mysql_app_password"], on="db1").rc == 0


@pytest.mark.parametrize("name", ["db1", "db2"])
def test_the_monthly_optimize_timer_is_on_each_db_host(host, name):
    h = host(name)
    assert h.service("stack-mysql-optimize.timer").is_enabled and h.service("stack-mysql-optimize.timer").is_running
    assert "OnCalendar=*-*-01 04:00:00" in h.file("/etc/systemd/system/stack-mysql-optimize.timer").content_string


def test_optimize_rebuilds_online_under_writes_and_never_reaches_the_binlog(host, address):
    from testbed.load import Load
    from tests.e2e.helpers import WRITES, lost_writes, not_retryable

    h = host("db1")
    # every table worth a rebuild, so that it runs (a copy of the desired state, 0600)
    h.run_expect([0], "umask 077 && sed 's/\"min_free_percent\": [0-9]*/\"min_free_percent\": 0/' "
                      "/etc/stack/mysql.json > /root/optimize.json")
    first, position = h.check_output("mariadb -N -e 'SHOW MASTER STATUS' | cut -f1,2").split()
    try:
        with Load(address("web1"), requests=WRITES, rate=None, workers=4) as writers:
            out = h.check_output("stack-mysql --desired /root/optimize.json optimize")
    finally:
        h.run_expect([0], "rm -f /root/optimize.json")
    assert out.count("rebuilt online") == 3, out
    assert lost_writes(host, writers) == {} and not_retryable(writers.failures) == []
    logs = [name for name in h.check_output("mariadb -N -e 'SHOW BINARY LOGS' | cut -f1").split() if name >= first]
    events = "".join(h.check_output(f"mariadb -N -e \"SHOW BINLOG EVENTS IN '{name}'"
                                    f"{' FROM ' + position if name == first else ''}\"") for name in logs)
    assert "ALTER TABLE" not in events and "ANALYZE TABLE" not in events  # the replica rebuilds its own
