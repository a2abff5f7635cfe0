"""What a no-op converge reads, and how little: the one-command facts of
stack/configs.py and stack/hostfacts.py, the decisions made from them, and
TCP_NODELAY on each SSH connection (stack/hooks.py)."""

import socket
import types

from stack import configs, context, hooks, hostfacts, services


def test_files_read_as_mode_owner_checksum_and_pending_marker_in_the_order_asked():
    states = hostfacts.FileStates().process(["missing", "none", "640 root redis 0123abcd", "pending"])
    assert states == [{"sha1": None, "mode": None, "user": None, "group": None, "pending": False},
                      {"sha1": "0123abcd", "mode": 0o640, "user": "root", "group": "redis", "pending": True}]


def test_the_file_states_command_quotes_each_path():
    command = hostfacts.FileStates().command(("/etc/a b'c", "/etc/d"))
    assert "'/etc/a b'\"'\"'c'" in command and "/etc/a b'c " not in command and "[ -f /etc/d ]" in command


def with_host(monkeypatch, answers):
    """A current host whose FileStates fact answers from ``answers`` (path -> state); the reads are returned."""
    reads = []

    class Host:
        name = "h1"

        def get_fact(self, fact, paths):
            reads.append(paths)
            return [answers[p] for p in paths]

    monkeypatch.setattr(hostfacts, "current_host", Host())  # pyinfra's host proxy, resolved
    monkeypatch.setattr(hostfacts, "_paths", {})
    monkeypatch.setattr(hostfacts, "_files", {})
    monkeypatch.setattr(context.current(), "changed", False)
    return reads


def test_while_nothing_changed_all_of_a_hosts_files_are_read_in_one_command(monkeypatch):
    reads = with_host(monkeypatch, {"/a": "A", "/b": "B"})
    hostfacts.manages("/a")
    hostfacts.manages("/b")
    assert [hostfacts.file_state("/b"), hostfacts.file_state("/a")] == ["B", "A"]
    assert reads == [("/a", "/b")]


def test_a_file_registered_after_the_first_read_is_read_with_the_others_not_yet_read(monkeypatch):
    reads = with_host(monkeypatch, {"/a": "A", "/b": "B", "/c": "C"})
    hostfacts.manages("/a")
    assert hostfacts.file_state("/a") == "A"  # --dry: asked while the deploy is still being prepared
    hostfacts.manages("/b")
    hostfacts.manages("/c")
    assert [hostfacts.file_state("/c"), hostfacts.file_state("/b")] == ["C", "B"]
    assert reads == [("/a",), ("/b", "/c")]


def test_once_something_changed_each_file_is_read_when_asked(monkeypatch):
    reads = with_host(monkeypatch, {"/a": "A", "/b": "B"})
    hostfacts.manages("/a")
    hostfacts.manages("/b")
    hostfacts.file_state("/a")
    monkeypatch.setattr(context.current(), "changed", True)
    assert hostfacts.file_state("/b") == "B"
    assert reads == [("/a", "/b"), ("/b",)]


def test_owner_and_mode_are_left_alone_when_right_and_set_when_not():
    now = {"mode": 0o644, "user": "root", "group": "root"}
    assert list(configs._owner_and_mode("/f", now, "0644", "root", "root")) == []
    fixes = [str(c) for c in configs._owner_and_mode("/f", {**now, "mode": 0o666, "group": "adm"}, "0644",
                                                     "root", "root")]
    assert fixes == ["chmod 0644 /f", "chown root:root /f"]


def test_directories_read_as_mode_and_owner_by_path_including_spaces():
    states = configs.DirectoryStates().process(["700 root root /etc/cron.d", "750 mysql adm /var/log/my sql"])
    assert states == {"/etc/cron.d": (0o700, "root", "root"), "/var/log/my sql": (0o750, "mysql", "adm")}


def test_units_read_as_running_and_enabled_from_one_listing():
    listing = ["Id=mariadb.service", "SubState=running", "UnitFileState=enabled", "",
               "Id=stack-backup.timer", "SubState=dead", "UnitFileState=disabled", "",
               "Id=disable-thp.service", "SubState=exited", "UnitFileState=enabled"]
    assert hostfacts.Units().process(listing) == {"mariadb.service": (True, True),
                                                  "stack-backup.timer": (False, False),
                                                  "disable-thp.service": (True, True)}


def kept_with(monkeypatch, units, **kwargs) -> list[dict]:
    calls = []
    monkeypatch.setattr(hostfacts, "units", lambda: units)
    monkeypatch.setattr(services.systemd, "service", lambda **kw: calls.append(kw))
    services.kept(name="x", **kwargs)
    return calls


def test_a_running_enabled_service_gets_no_operation(monkeypatch):
    assert kept_with(monkeypatch, {"nginx.service": (True, True)}, service="nginx") == []


def test_a_stopped_or_unknown_service_gets_its_operation(monkeypatch):
    assert len(kept_with(monkeypatch, {"nginx.service": (False, True)}, service="nginx")) == 1
    assert len(kept_with(monkeypatch, {}, service="nginx")) == 1


def test_a_service_kept_off_is_left_alone_when_it_is_off(monkeypatch):
    assert kept_with(monkeypatch, {}, service="stack-backup.timer", running=False, enabled=False) == []


def test_running_none_looks_at_enabled_only(monkeypatch):
    assert kept_with(monkeypatch, {"systemd-timesyncd.service": (False, True)}, service="systemd-timesyncd",
                     running=None) == []


def test_passwd_reads_home_and_shell(monkeypatch):
    monkeypatch.setattr(hostfacts, "output", lambda command: "sales:x:998:998::/srv/sales/shared:/usr/sbin/nologin")
    assert hostfacts.passwd("sales") == {"home": "/srv/sales/shared", "shell": "/usr/sbin/nologin"}
    monkeypatch.setattr(hostfacts, "output", lambda command: None)
    assert hostfacts.passwd("nobody-here") is None


def test_an_older_stack_app_status_is_completed_with_a_restart_to_be_safe(monkeypatch):
    monkeypatch.setattr(hostfacts, "output", lambda command, on=None: '{"current": "r1", "installed": ["r1"]}')
    status = hostfacts.app_status()
    assert status["current"] == "r1" and status["stale"] is True and status["python"] == ""


def test_every_ssh_connection_gets_tcp_nodelay():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        transport = types.SimpleNamespace(sock=sock)
        client = types.SimpleNamespace(get_transport=lambda: transport)
        hooks.NoDelay.host_connect(None, types.SimpleNamespace(connector=types.SimpleNamespace(client=client)))
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1


def test_a_changed_or_failed_operation_anywhere_ends_the_one_command_reads():
    metas = {"op1": types.SimpleNamespace(did_change=lambda: False, did_succeed=lambda: True),
             "op2": types.SimpleNamespace(did_change=lambda: True, did_succeed=lambda: True)}
    host = type("Host", (), {"name": "h1"})()
    state = type("State", (), {})()  # a run of its own, with a context of its own
    state.ops = {host: {k: types.SimpleNamespace(operation_meta=m) for k, m in metas.items()}}
    watch = hooks.Changes()
    for op in ("op1", "op2"):
        watch.operation_host_start(state, host, op)
    assert context.of(state).changed is False  # op1 changed nothing; op2 has only started
    watch.operation_host_start(state, host, "op3")
    assert context.of(state).changed is True


def test_a_connection_that_is_not_tcp_is_left_alone():
    # a local connector has no client; a proxied SSH transport rides a socket TCP options do not fit
    hooks.NoDelay.host_connect(None, types.SimpleNamespace(connector=types.SimpleNamespace()))
    one, other = socket.socketpair()
    with one, other:
        client = types.SimpleNamespace(get_transport=lambda: types.SimpleNamespace(sock=one))
        hooks.NoDelay.host_connect(None, types.SimpleNamespace(connector=types.SimpleNamespace(client=client)))
        assert one.family == socket.AF_UNIX  # setting TCP_NODELAY on it would have raised OSError


def test_a_fact_asked_twice_at_once_is_read_once(monkeypatch):
    import gevent

    monkeypatch.setattr(hostfacts, "_reads", {})
    reads = []

    class Host:
        name, state = "h1", None

        def get_fact(self, fact, **kwargs):
            reads.append(kwargs)
            gevent.sleep(0.01)  # the second asker comes while the first read is under way
            return "out"
    host = Host()
    askers = [gevent.spawn(hostfacts.output, "stack-app status", on=host) for _ in range(2)]
    gevent.joinall(askers)
    assert [a.value for a in askers] == ["out", "out"] and reads == [{"command": "stack-app status"}]


def member_with(monkeypatch, groups) -> list[dict]:
    calls = []
    monkeypatch.setattr(hostfacts, "groups_of", lambda user: groups)
    monkeypatch.setattr(services.server, "user", lambda **kw: calls.append(kw))
    services.member("MySQL may read the TLS key", "mysql", "ssl-cert")
    return calls


def test_a_service_user_already_in_the_group_gets_no_operation(monkeypatch):
    assert member_with(monkeypatch, {"mysql", "ssl-cert"}) == []


def test_a_service_user_not_in_the_group_is_added_to_it_and_keeps_the_others(monkeypatch):
    assert member_with(monkeypatch, {"mysql"}) == [{"name": "MySQL may read the TLS key", "user": "mysql",
                                                    "groups": ["ssl-cert"], "append": True, "create_home": False}]
