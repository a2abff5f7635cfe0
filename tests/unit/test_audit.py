"""stack/audit.py: which runs are flows that get an audit_log row, and under which action."""

import pytest

from stack.audit import action_of


@pytest.mark.parametrize("argv, action", [
    (["pyinfra", "-y", "inventories/production.py", "deploy.py"], "deploy"),
    (["pyinfra", "inventories/production.py", "tasks/backup.py"], "backup"),
    (["pyinfra", "inventories/production.py", "tasks/restore.py", "--data", "backup_id=latest"], "restore"),
    (["pyinfra", "inventories/production.py", "tasks/restore_drill.py"], "drill"),
    (["pyinfra", "inventories/production.py", "tasks/maintenance.py", "--data", "maintenance=on"], "maintenance"),
])
def test_every_flow_run_gets_a_row_under_its_action(argv, action):
    assert action_of(argv) == action


@pytest.mark.parametrize("argv", [
    ["pyinfra", "inventories/production.py", "tasks/redis.py"],  # a converge of one component
    ["pyinfra", "inventories/production.py", "tasks/migrate.py"],  # records its own, with a deployment_record
    ["pyinfra", "inventories/production.py", "tasks/rollback.py"],
])
def test_converges_and_flows_that_record_themselves_get_no_row_here(argv):
    assert action_of(argv) is None
