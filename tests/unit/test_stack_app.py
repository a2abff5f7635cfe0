"""stack-app's release bookkeeping on a release tree of its own (no host needed)."""

import os

import pytest

from stack.hosttools.stack_app.app import App, Failure, to_prune


@pytest.fixture
def app(tmp_path):
    releases = tmp_path / "releases"
    for rid in ("2026-01-a", "2026-02-b"):
        (releases / rid).mkdir(parents=True)
    os.symlink("releases/2026-02-b", tmp_path / "current")
    # systemctl fails here (this machine is no systemd host): the restart of a real failure
    return App({"root": str(tmp_path), "service": "stack-test-no-such-unit", "keep_releases": 2,
                "health_url": "http://127.0.0.1:9/health", "health_timeout": 1})


def test_an_artifact_waiting_to_be_installed_is_not_a_release(app, tmp_path):
    (tmp_path / "releases/2026-03-c.tar.gz").write_bytes(b"not yet installed")
    (tmp_path / "releases/2026-03-c.partial").mkdir()
    assert app.installed() == ["2026-01-a", "2026-02-b"]


def test_prune_leaves_an_artifact_alone(app, tmp_path):
    (tmp_path / "releases/2025-12-z.tar.gz").write_bytes(b"an older artifact")
    app.prune()  # used to count it as the oldest release, and rmtree() a file
    assert (tmp_path / "releases/2025-12-z.tar.gz").exists()


def test_a_restart_that_fails_switches_back_to_the_previous_release(app):
    with pytest.raises(Failure, match="(?s)2026-01-a was not healthy .*switched back to 2026-02-b"):
        app.activate("2026-01-a")
    assert app.current_id() == "2026-02-b"
    assert "rollback 2026-02-b (was 2026-01-a)" in open(os.path.join(app.root, "revisions.log")).read()


def log(app, *lines):
    with open(os.path.join(app.root, "revisions.log"), "w") as f:
        f.write("".join(f"2026-11-25T10:00:0{i}Z {line} by deploy\n" for i, line in enumerate(lines)))


def test_the_previous_release_is_what_the_current_one_replaced_when_deployed(app):
    log(app, "deploy 2026-01-a (was none)", "deploy 2026-02-b (was 2026-01-a)")
    assert app.previous_id() == "2026-01-a"


def test_a_health_gates_switch_back_is_not_a_previous_release(app):
    # 2026-03-c failed its gate: 2026-02-b is current again, and still replaced 2026-01-a
    log(app, "deploy 2026-01-a (was none)", "deploy 2026-02-b (was 2026-01-a)", "rollback 2026-02-b (was 2026-03-c)")
    assert app.previous_id() == "2026-01-a"


def test_the_first_release_has_no_previous_one(app):
    log(app, "deploy 2026-02-b (was none)")
    assert app.previous_id() is None


def test_prune_keeps_the_release_a_rollback_goes_back_to_even_with_the_oldest_id(tmp_path):
    releases = tmp_path / "releases"
    for rid in ("2026-01-a", "2026-02-b", "2026-03-c", "2026-04-d"):
        (releases / rid).mkdir(parents=True)
    os.symlink("releases/2026-04-d", tmp_path / "current")
    app = App({"root": str(tmp_path), "service": "x", "keep_releases": 1, "health_url": "", "health_timeout": 1})
    log(app, "deploy 2026-01-a (was none)", "deploy 2026-04-d (was 2026-01-a)")
    app.prune()
    assert app.installed() == ["2026-01-a", "2026-03-c", "2026-04-d"]


def test_prune_keeps_an_old_current_and_previous_and_then_has_nothing_left_to_do():
    """A fleet back on an old release after newer ones failed: the live one, the one a
    rollback goes to and the five newest stay, and asking again prunes nothing (the
    controller asks before it runs prune: a no-op converge must not prune every run)."""
    releases = [f"2026120{i}" for i in range(1, 10)]
    removed = to_prune(releases, current="20261201", previous="20261202", keep=5)
    assert removed == ["20261203", "20261204"]
    left = [r for r in releases if r not in removed]
    assert to_prune(left, current="20261201", previous="20261202", keep=5) == []


def test_cancel_sends_sigterm_to_the_online_change_running_and_says_when_there_is_none(tmp_path, capsys):
    import subprocess
    import sys

    from stack.hosttools.stack_app.cli import cancel

    tool = tmp_path / "pt-online-schema-change"  # stands in for the perl script, run by its interpreter
    tool.write_text("import signal, sys, time\nsignal.signal(signal.SIGTERM, lambda *_: sys.exit(7))\n"
                    "print('ready', flush=True)\ntime.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, str(tool)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "ready\n"
    assert cancel() == 0
    assert proc.wait(10) == 7
    assert f"pid {proc.pid}" in capsys.readouterr().out
    assert cancel() == 1 and "no online change is running" in capsys.readouterr().out
