"""stack/diffs.py: --diff lines as pyinfra prints them, and a secret file's values never."""

import pytest

from stack.diffs import SECRET, redact, secret_only, unified


def test_a_changed_line_is_shown_as_a_unified_diff_with_its_context():
    before = ["port 6379", "maxmemory 256mb", "maxmemory-policy allkeys-lru"]
    after = ["port 6379", "maxmemory 300mb", "maxmemory-policy allkeys-lru"]
    assert (unified(before, after)) == ["@@ -1,3 +1,3 @@", "  port 6379", "- maxmemory 256mb",
                                             "+ maxmemory 300mb", "  maxmemory-policy allkeys-lru"]


@pytest.mark.parametrize("line, shown", [
    ("DATABASE_PASSWORD=hunter2", f"DATABASE_PASSWORD={SECRET}"),
    (' "root_auth": "*73BA925A5465033853B298EB7171B6EF7D781755",', f' "root_auth": {SECRET}'),
    ("requirepass hunter2", f"requirepass {SECRET}"),
    ("user app on >hunter2 ~* +@all", f"user {SECRET}"),  # the value is a known secret
    ("token = hunter2", f"token = {SECRET}"),
    ("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC", "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"),  # no secret known: as it is
    (">hunter2<", SECRET),
])
def test_a_line_holding_or_naming_a_secret_keeps_its_key_and_hides_its_value(line, shown):
    assert redact(line, ["hunter2"]) == shown


def test_a_line_of_a_secret_bearing_file_with_no_secret_in_it_is_shown():
    assert redact("maxmemory 300mb", ["hunter2"]) == "maxmemory 300mb"


def test_a_secret_files_diff_shows_which_key_changed_and_no_value():
    out = "\n".join(unified(['"host": "db1"', '"password": "old-one"'], ['"host": "db2"', '"password": "new-one"'],
                            secrets=["old-one", "new-one"]))
    assert f'- "password": {SECRET}' in out and f'+ "password": {SECRET}' in out and '+ "host": "db2"' in out
    assert "old-one" not in out and "new-one" not in out


@pytest.mark.parametrize("lines", [
    ["-----BEGIN TEST KEY-----", "bm90LWEta2V5LWp1c3QtYS10ZXN0", "dA==", "-----END TEST KEY-----"],
    ["# created: 2026-12-02", "AGE-IDENTITY-PLACEHOLDER"],
])
def test_key_material_is_only_said_to_have_changed(lines):
    assert secret_only(lines)


def test_a_settings_file_is_shown_key_by_key():
    assert not secret_only(["DATABASE_HOST=db1", "DATABASE_PASSWORD=hunter2"])


def test_the_preview_summary_carries_each_files_diff():
    from stack.preview import report

    text = report("inventories/production.py deploy.py", {"web1": ["Redis config"]}, {}, {},
                  [("web1", "/etc/redis/redis.conf", ["@@ -1,1 +1,1 @@", "- maxmemory 256mb", "+ maxmemory 300mb"])])
    assert "web1: `/etc/redis/redis.conf`\n\n```diff\n@@ -1,1 +1,1 @@\n- maxmemory 256mb\n+ maxmemory 300mb\n```" in text


def test_the_plan_hash_changes_with_any_line_of_a_diff_and_only_then():
    from stack.preview import plan_hash
    changes = {"web1": ["tasks/redis.py | Redis config"]}
    diff = [("web1", "/etc/redis/redis.conf", ["- maxmemory 256mb", "+ maxmemory 300mb"])]
    other = [("web1", "/etc/redis/redis.conf", ["- maxmemory 256mb", "+ maxmemory 400mb"])]
    assert plan_hash(changes, {}, {}, diff) == plan_hash(dict(changes), {}, {}, list(diff))
    assert plan_hash(changes, {}, {}, diff) != plan_hash(changes, {}, {}, other)
    assert plan_hash(changes, {}, {}, diff) != plan_hash({}, {}, {}, diff)


def test_a_certificate_is_one_stable_line_not_its_base64():
    from stack.diffs import certificate
    assert certificate(["-----BEGIN CERTIFICATE-----", "MIIB...", "-----END CERTIFICATE-----"])
    assert not certificate(["maxmemory 300mb"])
