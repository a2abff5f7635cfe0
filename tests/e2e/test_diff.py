"""`--dry --diff` on the testbed, as an operator types it (no -y: with -y pyinfra skips
change detection, where diffs are shown): a changed config's line shown as pyinfra
shows a diff; a file holding secrets shown key by key, with no value. Changes nothing."""

import re

from tests.e2e.helpers import pyinfra_on_testbed


def text(proc) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr)  # without the colours


def test_dry_diff_shows_the_line_a_changed_value_changes_in_a_config(host):
    before = host("web1").file("/etc/redis/redis.conf").content_string
    proc = pyinfra_on_testbed("tasks/redis.py", "--limit", "web1", "--dry", "--diff", "--data",
                              "redis_maxmemory=300mb", json_output=False, yes=False)
    out = text(proc)
    assert proc.returncode == 0, out[-3000:]
    assert "Will modify /etc/redis/redis.conf" in out
    assert re.search(r"^\s+- maxmemory (?!300mb)\S+\n\s+\+ maxmemory 300mb$", out, re.MULTILINE), out[-3000:]
    assert host("web1").file("/etc/redis/redis.conf").content_string == before


def test_dry_diff_of_a_file_holding_secrets_shows_the_changed_key_and_no_value(host, secrets):
    hook = "http://10.231.255.1:9/services/T000/B000/a-secret-token"  # never called: --dry
    proc = pyinfra_on_testbed("tasks/backup_schedule.py", "--limit", "db2", "--dry", "--diff", "--data",
                              "influxdb_failure_webhook=true", json_output=False, yes=False,
                              env={"STACK_ALERT_WEBHOOK_URL": hook})
    out = text(proc)
    assert proc.returncode == 0, out[-3000:]
    assert "Will modify /etc/stack/influx-writer.json" in out
    assert re.search(r'^\s+\+\s+"webhook_url": <secret>$', out, re.MULTILINE), out[-3000:]
    assert "a-secret-token" not in out
    assert [name for name, value in secrets.items() if isinstance(value, str) and len(value) > 6 and value in out] == []


def test_dry_diff_of_redis_config_hides_the_users_password_hashes(host, secrets):
    proc = pyinfra_on_testbed("tasks/redis.py", "--limit", "web1", "--dry", "--diff", "--data",
                              "redis_maxmemory=300mb", json_output=False, yes=False,
                              env={"STACK_REDIS_APP_PASSWORD": "a-new-app-password"})
    out = text(proc)
    assert proc.returncode == 0, out[-3000:]
    assert re.search(r"^\s+\+\s*user <secret>$", out, re.MULTILINE), out[-3000:]  # the app user's line changes
    assert not re.search(r"#[0-9a-f]{64}", out)  # no password hash, old or new
