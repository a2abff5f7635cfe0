"""Production's paths, prepared: every task file through the real CLI with
``--dry``, with production's data, on a Debian 12 host that is not a container:
a chroot of the testbed's rootfs (tests/chroot/production.py), as the deploy
user with sudo. The testbed's hosts are containers, so their tasks take the
container branches; here the branches a real machine takes are built by
pyinfra, which is where a prepare-time mistake shows."""

import subprocess

import pytest

from testbed.rootfs import ensure_base_rootfs
from tests.helpers import REPO, made_up_secrets, run_pyinfra

TASKS = sorted(p.name for p in (REPO / "tasks").glob("*.py"))
NOT_A_CONTAINER = ["tasks/base.py | timesyncd running", "tasks/base.py | timesyncd restarted",
                   "tasks/redis.py | vm.overcommit_memory=1 (background saves must not fail to fork)",
                   "tasks/redis.py | Transparent hugepages off at boot",
                   "tasks/redis.py | systemd knows disable-thp", "tasks/redis.py | Transparent hugepages off now"]


@pytest.fixture(scope="module")
def dry(tmp_path_factory):
    """Runs ``pyinfra --dry --json`` of a deploy file against the chroot."""
    tmp = tmp_path_factory.mktemp("dry")
    root = tmp / "root"
    for d in ("root", "upper", "work"):
        (tmp / d).mkdir()
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                    f"lowerdir={ensure_base_rootfs()},upperdir={tmp / 'upper'},workdir={tmp / 'work'}", str(root)],
                   check=True)
    subprocess.run(["mount", "-t", "proc", "proc", str(root / "proc")], check=True)
    secrets = made_up_secrets(tmp / "secrets.yml")
    cert, key = tmp / "site.crt", tmp / "site.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=dry",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)

    identity = tmp / "backup-identity.txt"  # tasks/restore.py wants one, and production's confirmation
    subprocess.run(["age-keygen", "-o", str(identity)], check=True, capture_output=True)

    def run(deploy_file):
        return run_pyinfra("tests/chroot/production.py", "--dry", deploy_file,
                           "--data", f"nginx_tls_certificate={cert}", "--data", f"nginx_tls_key={key}",
                           "--data", "confirm=production", "--data", "maintenance=on",
                           env={"STACK_DRY_ROOT": str(root), "STACK_SECRETS_FILE": str(secrets),
                                "STACK_BACKUP_AGE_IDENTITY_FILE": str(identity)})
    yield run
    subprocess.run(["umount", str(root / "proc")], check=True)
    subprocess.run(["umount", str(root)], check=True)


@pytest.fixture(scope="module")
def full(dry):
    proc = dry("deploy.py")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_the_chroot_is_not_a_container(full):
    assert "container" not in full.stderr


def test_the_full_deploy_prepares_every_production_branch(full):
    proc = full
    missing = [name for name in NOT_A_CONTAINER if name not in proc.plan]
    assert missing == []
    # Production's components are all in: InfluxDB 2, Grafana and Telegraf from their vendors' repositories.
    assert {"tasks/grafana.py | Grafana", "tasks/telegraf.py | Telegraf", "tasks/influxdb.py | InfluxDB 2.x"} \
        <= set(proc.plan)


# Refusals a fresh host (no release installed yet) must give while prepared.
REFUSED = {"rollback.py": "the app hosts have no common previous release to roll back to"}


@pytest.mark.parametrize("task", [t for t in TASKS if t not in REFUSED])
def test_each_task_file_prepares_alone(dry, task):
    proc = dry(f"tasks/{task}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.plan


@pytest.mark.parametrize("task", sorted(REFUSED))
def test_a_task_file_with_nothing_to_act_on_refuses_while_prepared(dry, task):
    proc = dry(f"tasks/{task}")
    assert proc.returncode != 0 and REFUSED[task] in proc.stderr
