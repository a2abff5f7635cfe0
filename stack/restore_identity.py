"""What the restore and drill flows share on the controller: the operator's age
identity, which decrypts backups and never stays on a host."""

import os
from pathlib import Path

from stack.checks import Refused
from stack.shell import argv, run_on

RUN_DIR = "/run/stack-restore"  # tmpfs: gone at reboot at the latest


def identity_file(host) -> Path:
    """Checked while the flow is prepared: nothing runs without it."""
    named = os.environ.get("STACK_BACKUP_AGE_IDENTITY_FILE") or host.data.get("backup_age_identity_file")
    if not named:
        raise Refused("this flow decrypts backups: set STACK_BACKUP_AGE_IDENTITY_FILE to the age identity's file")
    if not Path(named).is_file():
        raise Refused(f"the age identity file {named} does not exist (STACK_BACKUP_AGE_IDENTITY_FILE or "
                      "backup_age_identity_file)")
    return Path(named)


def with_identity(host, identity: Path, *command, what):
    """``command`` run on ``host`` with the identity in RUN_DIR/identity (a 0700
    directory of the deploy user, on tmpfs), removed afterwards whatever happened."""
    run_on(host, "install", "-d", "-m", "0700", "-o", host.data.ssh_user, RUN_DIR, what=f"making {RUN_DIR} failed")
    try:
        if not host.put_file(str(identity), f"{RUN_DIR}/identity"):
            raise RuntimeError("the identity could not be uploaded")
        run_on(host, *command, "--identity", f"{RUN_DIR}/identity", what=what)
    finally:
        host.run_shell_command(argv("rm", "-rf", RUN_DIR), _sudo=bool(host.data.get("_sudo")))
