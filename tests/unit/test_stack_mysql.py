"""stack-mysql's decisions, from what a server reports to the statements it runs."""

from stack.hosttools.stack_mysql.accounts import account_statements, parse_grants

APP_HASH = "*73BA925A5465033853B298EB7171B6EF7D781755"
ROOT_HASH = "*1245E6B655BE1B3BB0CCB63C4FC7CA43DCFB8D6B"
DESIRED = {
    "root_auth": ROOT_HASH,
    "databases": [{"name": "sales", "charset": "utf8mb4", "collation": "utf8mb4_unicode_ci"}],
    "users": [{"name": "sales", "host": "10.0.0.13", "auth": APP_HASH, "require_ssl": True,
               "grants": {"sales.*": ["SELECT", "INSERT"]}},
              {"name": "backup", "host": "localhost", "auth": APP_HASH,
               "grants": {"*.*": ["SELECT", "REPLICATION CLIENT"]}}],
}


def in_sync():
    """What a MariaDB server in the desired state reports."""
    return {
        "users": {
            ("root", "localhost"): f"CREATE USER `root`@`localhost` IDENTIFIED VIA mysql_native_password "
                                   f"USING '{ROOT_HASH}' OR unix_socket",
            ("mariadb.sys", "localhost"): "CREATE USER `mariadb.sys`@`localhost` ACCOUNT LOCK",
            ("sales", "10.0.0.13"): f"CREATE USER `sales`@`10.0.0.13` IDENTIFIED BY PASSWORD '{APP_HASH}' "
                                    "REQUIRE SSL",
            ("backup", "localhost"): f"CREATE USER `backup`@`localhost` IDENTIFIED BY PASSWORD '{APP_HASH}'",
        },
        "grants": {
            ("sales", "10.0.0.13"): ["GRANT USAGE ON *.* TO `sales`@`10.0.0.13` IDENTIFIED BY PASSWORD 'x'",
                                     "GRANT SELECT, INSERT ON `sales`.* TO `sales`@`10.0.0.13`"],
            # MariaDB prints REPLICATION CLIENT under its new name
            ("backup", "localhost"): ["GRANT SELECT, BINLOG MONITOR ON *.* TO `backup`@`localhost`"],
        },
        "databases": {"sales": ("utf8mb4", "utf8mb4_unicode_ci")},
    }


def test_server_in_the_desired_state_needs_nothing():
    assert account_statements(DESIRED, in_sync()) == []


def test_grant_lines_are_read_per_object_without_usage():
    assert parse_grants(in_sync()["grants"][("sales", "10.0.0.13")]) == {"sales.*": {"SELECT", "INSERT"}}


def test_anonymous_wildcard_and_remote_root_accounts_are_dropped():
    current = in_sync()
    for key in [("", "localhost"), ("admin", "%"), ("root", "10.0.0.9")]:
        current["users"][key] = "CREATE USER ..."
    dropped = [s for s, _ in account_statements(DESIRED, current)]
    assert dropped == ["DROP USER ``@`localhost`", "DROP USER `admin`@`%`", "DROP USER `root`@`10.0.0.9`"]


def test_our_user_on_a_host_no_longer_listed_is_dropped():
    current = in_sync()
    current["users"][("sales", "10.0.0.99")] = "CREATE USER ..."
    assert [s for s, _ in account_statements(DESIRED, current)] == ["DROP USER `sales`@`10.0.0.99`"]


def test_changed_password_alters_the_user_with_the_hash_as_a_parameter():
    current = in_sync()
    current["users"][("sales", "10.0.0.13")] = ("CREATE USER `sales`@`10.0.0.13` IDENTIFIED BY PASSWORD '*OLD' "
                                                "REQUIRE SSL")
    assert account_statements(DESIRED, current) == [
        ("ALTER USER `sales`@`10.0.0.13` IDENTIFIED BY PASSWORD %s", (APP_HASH,))]


def test_a_network_account_without_tls_is_made_to_require_it():
    current = in_sync()
    current["users"][("sales", "10.0.0.13")] = f"CREATE USER `sales`@`10.0.0.13` IDENTIFIED BY PASSWORD '{APP_HASH}'"
    assert account_statements(DESIRED, current) == [("ALTER USER `sales`@`10.0.0.13` REQUIRE SSL", ())]


def test_a_socket_account_that_requires_tls_is_freed_of_it():
    current = in_sync()
    current["users"][("backup", "localhost")] += " REQUIRE SSL"  # the unix socket never carries TLS
    assert account_statements(DESIRED, current) == [("ALTER USER `backup`@`localhost` REQUIRE NONE", ())]


def test_extra_privilege_is_revoked_and_the_wanted_ones_granted():
    current = in_sync()
    current["grants"][("sales", "10.0.0.13")].append("GRANT DROP ON `mysql`.* TO `sales`@`10.0.0.13`")
    assert [s for s, _ in account_statements(DESIRED, current)] == [
        "REVOKE ALL PRIVILEGES, GRANT OPTION FROM `sales`@`10.0.0.13`",
        "GRANT INSERT, SELECT ON `sales`.* TO `sales`@`10.0.0.13`",
    ]


def test_missing_database_and_user_are_created_and_test_database_dropped():
    current = in_sync()
    del current["databases"]["sales"]
    current["databases"]["test"] = ("latin1", "latin1_swedish_ci")
    del current["users"][("backup", "localhost")], current["grants"][("backup", "localhost")]
    assert [s for s, _ in account_statements(DESIRED, current)] == [
        "CREATE DATABASE `sales` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
        "DROP DATABASE `test`",
        "CREATE USER `backup`@`localhost` IDENTIFIED BY PASSWORD %s",
        "GRANT BINLOG MONITOR, SELECT ON *.* TO `backup`@`localhost`",
    ]


def test_root_without_the_socket_is_put_back_on_it():
    current = in_sync()
    current["users"][("root", "localhost")] = f"CREATE USER `root`@`localhost` IDENTIFIED BY PASSWORD '{ROOT_HASH}'"
    assert [s for s, _ in account_statements(DESIRED, current)] == [
        "ALTER USER root@localhost IDENTIFIED VIA unix_socket OR mysql_native_password USING %s"]


def test_mariadb_root_without_its_password_fallback_is_fixed():
    current = in_sync()
    current["users"][("root", "localhost")] = "CREATE USER `root`@`localhost` IDENTIFIED VIA unix_socket"
    assert [s for s, _ in account_statements(DESIRED, current)] == [
        "ALTER USER root@localhost IDENTIFIED VIA unix_socket OR mysql_native_password USING %s"]


def test_replica_that_reports_no_status_is_a_clear_error():
    from stack.hosttools.stack_mysql.replica import wait_until_replicating
    from stack.hosttools.stack_mysql.server import Failure

    class NoStatus:  # a server answering SHOW SLAVE STATUS with no row
        def execute(self, sql):
            pass

        def fetchone(self):
            return None
    import pytest
    with pytest.raises(Failure, match="the server reports no replica status at all"):
        wait_until_replicating(NoStatus(), timeout=0)


def test_a_grant_on_a_table_waits_until_the_table_exists():
    desired = {**DESIRED, "users": [{**DESIRED["users"][1], "grants": {
        "*.*": ["SELECT", "REPLICATION CLIENT"], "sales.backup_record": ["INSERT"]}}, DESIRED["users"][0]]}
    before = account_statements(desired, in_sync())  # the migrations have not made the table yet
    assert before == []
    after = account_statements(desired, {**in_sync(), "tables": {"sales.backup_record"}})
    assert ("GRANT INSERT ON `sales`.`backup_record` TO `backup`@`localhost`", ()) in after
