"""stack.keys: the one table of data keys, group_data's comments, docs/keys.md and validate agree."""

from stack import keys, validate
from stack.keys import KEYS, ROLE_GROUPS, Key
from stack.preflight import hosts_of
from tests.helpers import REPO, load_inventory


def assigned():
    """key -> the group_data files that set it."""
    found = {}
    for file, values in keys.group_data().items():
        for key in values:
            found.setdefault(key, []).append(file)
    return found


def test_every_group_data_key_has_a_comment_above_it():
    bare = [f"group_data/{file}: {key}" for file, values in keys.group_data().items()
            for key, (_, comment) in values.items() if not comment]
    assert not bare, "say what each key does, and its unit, in a comment just above it:\n" + "\n".join(bare)


def test_every_group_data_key_is_in_the_table():
    missing = sorted(set(assigned()) - set(KEYS))
    assert not missing, f"add these to stack/keys.py's KEYS: {missing}"


def test_a_key_no_group_data_file_sets_says_where_it_is_set():
    unset = sorted(k for k, spec in KEYS.items() if k not in assigned() and not spec.about)
    assert not unset, f"set these in group_data/ or give them an about= in stack/keys.py: {unset}"


def test_a_key_group_data_sets_is_described_there_only():
    twice = sorted(k for k, spec in KEYS.items() if k in assigned() and spec.about)
    assert not twice, f"described by their group_data comment already, drop about= in stack/keys.py: {twice}"


def test_the_description_is_the_comment_below_a_section_heading_or_blank_line(tmp_path):
    (tmp_path / "all.py").write_text('"""Doc."""\n\n# -- section -----\n# A note on the section.\n\n'
                                     "# What it is (unit),\n# on two lines.\nbase_x = 1\n"
                                     "# -- next section -----\n# Another (bool).\nbase_y = True\n")
    assert keys.group_data(tmp_path) == {
        "all.py": {"base_x": (1, "What it is (unit), on two lines."), "base_y": (True, "Another (bool).")}}


def test_a_key_an_environment_sets_names_each_environment_file_and_value():
    row = next(r for r in keys.markdown().splitlines() if r.startswith("| `base_firewall_ssh_from` |"))
    assert ("all.py: `None`; production.py: `['10.10.0.0/16']`; staging.py: `['10.20.0.0/16']`; "
            "testbed.py: `['0.0.0.0/0', '::/0']`") in row


def test_every_check_says_what_it_accepts():
    silent = sorted(k for k, spec in KEYS.items() if spec.check and not getattr(spec.check, "text", ""))
    assert not silent, f"give these keys' checks a text (stack.checks.described): {silent}"


def test_every_key_is_required_only_in_all_or_a_role_group():
    wrong = sorted(k for k, spec in KEYS.items() if set(spec.required_in) - {"all", *ROLE_GROUPS})
    assert not wrong, wrong


def test_every_keys_page_exists():
    pages = {f"docs/{keys.page(k)}.md" for k in KEYS}
    assert not sorted(p for p in pages if not (REPO / p).is_file())


def test_docs_keys_md_is_up_to_date():
    assert (REPO / "docs" / "keys.md").read_text() == keys.markdown(), \
        "docs/keys.md is out of date: run `python -m stack.keys > docs/keys.md`"


def test_validate_reports_a_key_the_table_drops_as_unknown(monkeypatch):
    monkeypatch.delitem(KEYS, "nginx_hsts_max_age")
    found = validate.problems(hosts_of(load_inventory("staging")), check_secrets_for=set())
    assert "web1.staging.example.com: unknown key 'nginx_hsts_max_age' (a typo?)" in found, found


def test_validate_requires_what_the_table_requires(monkeypatch):
    monkeypatch.setitem(KEYS, "base_apt_proxy", Key(KEYS["base_apt_proxy"].check, ("all",)))
    found = validate.problems(hosts_of(load_inventory("staging")), check_secrets_for=set())
    assert "app1.staging.example.com: base_apt_proxy is required" in found, found
