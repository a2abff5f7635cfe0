"""stack/lock.py's note: who holds the flow lock, and what it shows."""

from stack import lock


def test_the_note_names_the_flow_files_and_never_a_data_value():
    note = lock.holder(["pyinfra", "-y", "inventories/production.py", "tasks/restore.py", "--data",
                        "backup_id=20261201T000000Z"], environ={})
    assert note["flow"] == "tasks/restore.py"
    assert "backup_id" not in str(note)


def test_in_ci_the_note_names_the_actor_and_the_run():
    note = lock.holder(["pyinfra", "inventories/staging.py", "deploy.py"],
                       environ={"GITHUB_ACTOR": "alice", "GITHUB_RUN_ID": "77"})
    assert note["who"] == "alice (GitHub Actions run 77)" and note["flow"] == "deploy.py"


def test_the_refusal_says_who_what_where_and_since_when():
    assert lock.describe({"who": "alice", "flow": "tasks/restore.py", "controller": "laptop", "pid": 7,
                          "since": "2026-12-02T16:00:00Z"}) == \
        "alice runs tasks/restore.py from laptop (pid 7) since 2026-12-02T16:00:00Z"
