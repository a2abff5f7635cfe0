"""tasks/app.py on the testbed: releases, the health-gated serial rollout under
load, automatic rollback, pruning. Ends with the default release live again."""

import json
import re
import subprocess
import threading
import time

from testbed.load import Load
from tests.e2e.helpers import (
    APP,
    WRITES,
    get,
    lost_writes,
    not_retryable,
    pyinfra_on_testbed,
    release_of,
    variant,
)
from tests.helpers import MEASUREMENTS, REPO, changed_hosts


def test_release_layout_and_modes(host):
    h = host("app1")
    rid = release_of(h)
    assert h.file(f"{APP}/current").is_symlink
    assert h.file(f"{APP}/releases/{rid}/venv/bin/python").exists
    assert (h.file(f"{APP}/releases/{rid}").user, h.file(f"{APP}/releases").user) == ("root", "root")
    env = h.file(f"{APP}/shared/app.env")
    assert (env.mode, env.user, env.group) == (0o600, "sales", "sales")
    assert f"deploy {rid} (was none) by deploy" in h.file(f"{APP}/revisions.log").content_string


def test_only_root_holds_the_migration_users_settings(host, secrets):
    h = host("app1")
    migrate = h.file("/etc/stack/app-migrate.env")
    assert (migrate.mode, migrate.user) == (0o600, "root")
    assert "DATABASE_USER=sales_migrate" in migrate.content_string
    app_env = h.file(f"{APP}/shared/app.env").content_string
    assert "DATABASE_USER=sales\n" in app_env and secrets["mysql_migration_password"] not in app_env


def test_app_runs_unprivileged_and_hardened(host):
    h = host("app1")
    assert h.check_output("systemctl show sales -p User --value") == "sales"
    assert h.check_output("systemctl show sales -p ProtectSystem --value") == "strict"
    assert h.check_output("systemctl show sales -p NoNewPrivileges --value") == "yes"


def test_migrations_brought_the_schema_to_the_head_revision(host, secrets):
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    head = ScriptDirectory.from_config(Config(str(REPO / "migrations/alembic.ini"))).get_current_head()
    out = host("db1").check_output("mariadb -N -e 'SHOW TABLES FROM sales; SELECT version_num FROM sales.alembic_version'")
    assert {"sale", "sale_item", "stock_move", "audit_log", "deployment_record", "backup_record",
            "alembic_version"} <= set(out.split())
    assert head in out.split()


def test_sale_is_written_and_summary_cached(address):
    import http.client
    import ssl
    ctx = ssl._create_unverified_context()
    conn = http.client.HTTPSConnection(address("web1"), 443, context=ctx, timeout=10)
    conn.request("POST", "/sales", body=json.dumps({"items": [{"sku": "A1", "qty": 2, "price": "9.90"}]}),
                 headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    created = json.loads(resp.read())
    assert resp.status == 201 and created["total"] == "19.80"
    sale = json.loads(get(address("web1"), f"/sales/{created['id']}").body)
    assert sale["items"] == [{"sku": "A1", "qty": 2, "price": "9.90"}]
    get(address("web1"), "/sales/summary")
    assert get(address("web1"), "/sales/summary").getheader("X-Cache") == "hit"


def test_rollout_under_load_fails_no_request(host, address, tmp_path):
    before = release_of(host("app1"))
    src = variant(tmp_path, "v2")
    with Load(address("web1"), rate=60) as load:
        proc = pyinfra_on_testbed("deploy.py", "--data", f"app_source={src}")
    MEASUREMENTS.append(f"rollout of a new release to 2 app hosts: {load.seconds:.1f}s under load, "
                        f"{load.rps:.0f} req/s, {load.ok + len(load.failures)} requests, {len(load.failures)} failed")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert load.failures == []
    assert load.rps >= 50
    # the bake says how it goes while it lasts
    assert re.search(r"app[12]: baking \S+: \d+ of \d+s, \d+ requests, \d+ 5xx, P99", proc.stdout + proc.stderr)
    after = {release_of(host(h)) for h in ("app1", "app2")}
    assert len(after) == 1 and after != {before}


def test_unhealthy_release_is_rolled_back_and_stops_the_rollout(host, address, tmp_path):
    live = release_of(host("app1"))
    logged = {h: host(h).file(f"{APP}/revisions.log").content_string for h in ("app1", "app2")}

    def break_health(src):
        init = src / "sales/__init__.py"
        init.write_text(init.read_text().replace('healthy = status["database"] == "connected"', "healthy = False and "
                                                 'status["database"] == "connected"'))
    src = variant(tmp_path, "broken", break_health)
    with Load(address("web1"), rate=60) as load:
        proc = pyinfra_on_testbed("deploy.py", "--data", f"app_source={src}", "--data", "app_health_timeout=5")
    MEASUREMENTS.append(f"failed rollout with automatic rollback: {load.seconds:.1f}s under load, "
                        f"{load.rps:.0f} req/s, {load.ok + len(load.failures)} requests, {len(load.failures)} failed")
    assert proc.returncode != 0
    assert load.failures == []
    # the first host (in pyinfra's serial order) was switched back, the other never switched
    assert release_of(host("app1")) == live and release_of(host("app2")) == live
    rolled_back = [h for h in ("app1", "app2")  # in this run: what revisions.log gained
                   if f"rollback {live}" in host(h).file(f"{APP}/revisions.log").content_string[len(logged[h]):]]
    assert len(rolled_back) == 1
    assert f"rollout stopped: {rolled_back[0]} failed its health gate" in proc.stdout + proc.stderr


def test_pruning_keeps_five_and_never_current_or_previous(host):
    h = host("app1")
    real = h.check_output("stack-app releases").split()
    current = release_of(h)
    previous = max(r for r in real if r < current)
    # six releases newer than current (say, installed but never switched to)
    fakes = [f"2999010100000{i}-fake{i}" for i in range(6)]
    h.run_expect([0], "cd %s/releases && mkdir %s" % (APP, " ".join(fakes)))
    try:
        h.run_expect([0], "stack-app prune")
        left = set(h.check_output("stack-app releases").split())
        assert left == set(fakes[1:]) | {current, previous}  # newest five, plus the two in use
    finally:
        h.run("cd %s/releases && rm -rf %s" % (APP, " ".join(fakes)))


def test_default_release_is_restored(host):
    proc = pyinfra_on_testbed("deploy.py")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert release_of(host("app1")) == release_of(host("app2"))


def test_settings_written_by_a_failed_run_still_restart_the_app(host):
    # after test_default_release_is_restored: nothing else is pending here
    h = host("app1")
    h.run_expect([0], f"touch {APP}/shared/app.env")  # as if a run wrote it, then died before the switch
    assert h.check_output("stack-app stale") == "stale"
    proc = pyinfra_on_testbed("deploy.py", "--limit", "app_servers")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert changed_hosts(proc.results) == {
        "tasks/app_switch.py | Switch to the release, one host at a time, behind the health gate": ["app1"]}
    assert h.check_output("stack-app stale") == "fresh"


def test_an_install_killed_after_the_upload_is_finished_by_the_next_run(host, testbed, tmp_path):
    from stack.artifact import BUILD_DIR
    h = host("app1")
    default = release_of(h)
    src = variant(tmp_path, "v-interrupted")
    assert pyinfra_on_testbed("deploy.py", "--limit", "app1", "--data", f"app_source={src}").returncode == 0
    new = release_of(h)
    # Back on the default release, then what a killed install leaves: the artifact, no release.
    h.run_expect([0], f"stack-app activate {default} && rm -rf {APP}/releases/{new}")
    built = max(BUILD_DIR.glob(f"{new}--*.tar.gz"), key=lambda p: p.stat().st_mtime)  # app1's target
    with open(built, "rb") as artifact:
        subprocess.run(["ssh", "-F", str(testbed.state_dir / "ssh_config"), "app1", "sudo", "install", "-m", "0600",
                        "/dev/stdin", f"{APP}/releases/{new}.tar.gz"], stdin=artifact, check=True)
    proc = pyinfra_on_testbed("deploy.py", "--limit", "app1", "--data", f"app_source={src}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert release_of(h) == new and h.file(f"{APP}/releases/{new}/venv/bin/python").exists
    assert pyinfra_on_testbed("deploy.py", "--limit", "app1").returncode == 0  # the default release again
    assert release_of(h) == default


def test_a_release_whose_endpoints_fail_is_switched_back_by_its_bake_and_stops_the_rollout(host, address, tmp_path):
    live = release_of(host("app1"))

    def break_summary(src):  # /health still passes: the gate alone lets it through
        init = src / "sales/__init__.py"
        init.write_text(init.read_text().replace("    def summary():\n", "    def summary():\n        return 'broken', 500\n"))
    src = variant(tmp_path, "failing-summary", break_summary)
    with Load(address("web1"), path="/sales/summary", rate=60):
        proc = pyinfra_on_testbed("deploy.py", "--data", f"app_source={src}", json_output=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    found = re.search(r"failed its bake: error rate over the last \d+s: ([\d.]+)% of \d+ requests .*"
                      r"switched back to (\S+) ([\d.]+)s after the switch", out)
    assert found and float(found[1]) > 5 and found[2] == live, out[-3000:]
    MEASUREMENTS.append(f"bake: a release failing /sales/summary was switched back {found[3]}s after its switch")
    assert {release_of(host(h)) for h in ("app1", "app2")} == {live}


def test_a_bake_failing_on_the_second_app_host_switches_the_first_back_too(host, address, tmp_path):
    """The first host passes its bake, the second fails its own: the fleet ends on the release
    it had, not half on each. Which host pyinfra switches first is its choice: the release
    fails on a host that carries a marker, put on the other host once the first has switched."""
    live, marker = release_of(host("app1")), "/etc/stack-e2e-fail-summary"

    def break_summary_where_marked(src):
        init = src / "sales/__init__.py"
        init.write_text(init.read_text().replace(
            "    def summary():\n",
            f"    def summary():\n        if __import__('os').path.exists({marker!r}):\n"
            "            return 'broken', 500\n"))

    def mark_the_second(stop):
        while not stop.is_set():
            moved = [h for h in ("app1", "app2") if release_of(host(h)) != live]
            if moved:
                host(({"app1", "app2"} - set(moved)).pop()).run_expect([0], f"touch {marker}")
                return
            time.sleep(0.3)

    src = variant(tmp_path, "failing-where-marked", break_summary_where_marked)
    stop = threading.Event()
    watcher = threading.Thread(target=mark_the_second, args=(stop,), daemon=True)
    try:
        with Load(address("web1"), path="/sales/summary", rate=60), \
                Load(address("web1"), requests=WRITES, rate=None, workers=4) as writers:
            watcher.start()
            proc = pyinfra_on_testbed("deploy.py", "--data", f"app_source={src}", json_output=False)
    finally:
        stop.set()
        watcher.join(timeout=10)
        for h in ("app1", "app2"):
            host(h).run_expect([0], f"rm -f {marker}")
    out = proc.stdout + proc.stderr
    failed = re.search(r"(app[12]): \S+ failed its bake: error rate .* switched back to " + re.escape(live) +
                       r".*; (app[12]) switched back to " + re.escape(live), out)
    assert proc.returncode != 0
    said = "\n".join(line for line in out.splitlines() if "bake" in line or "switched" in line)
    assert failed and failed[1] != failed[2], said  # the second failed, and took the first back
    assert {release_of(host(h)) for h in ("app1", "app2")} == {live}
    assert lost_writes(host, writers) == {} and not_retryable(writers.failures) == []

def test_a_worker_past_its_memory_share_is_replaced_while_every_request_succeeds(host, address):
    # A limit every worker passes at once: each one is replaced after each request it
    # serves. (The unit's MemoryMax is the kernel's backstop; the testbed's cgroups are
    # read-only, so only the workers' own limit acts here.)
    since = host("app1").check_output("date '+%Y-%m-%d %H:%M:%S'")
    proc = pyinfra_on_testbed("deploy.py", "--limit", "app_servers", "--data", "app_memory_max=64M")
    assert proc.returncode == 0, proc.stderr[-3000:]
    try:
        assert host("app1").check_output("systemctl show -p MemoryMax sales") == f"MemoryMax={64 * 1024**2}"
        with Load(address("web1"), path="/sales/summary", rate=10) as readers, \
                Load(address("web1"), requests=WRITES, rate=None, workers=2) as writers:
            time.sleep(6)
        replaced = host("app1").check_output(f"journalctl -u sales --since '{since}' --no-pager | "
                                             "grep -c 'past its share' || true")
    finally:
        assert pyinfra_on_testbed("deploy.py", "--limit", "app_servers").returncode == 0
    assert int(replaced) >= 5  # restarted many times over ...
    assert readers.failures == writers.failures == [] and lost_writes(host, writers) == {}  # ... and none failed
    assert "MemoryMax=1073741824" == host("app1").check_output("systemctl show -p MemoryMax sales")
