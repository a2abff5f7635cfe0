"""How the testbed's hosts are reached and what a deploy needs to reach them:
the ssh_config (the deploy user, strict host keys), the generated secrets and
the pyinfra inventory entries read from the state file."""

from __future__ import annotations

import json
import os
import secrets as _random
from pathlib import Path

from testbed.machine import run
from testbed.rootfs import DEPLOY_USER

BACKUP_IDENTITY = "backup_age_identity.txt"  # in the state directory


def write_ssh_config(path: Path, addresses: dict[str, str], key: Path, known_hosts: Path):
    lines = []
    for host, address in addresses.items():
        lines += [
            f"Host {host} {address}",
            f"  HostName {address}",
            f"  User {DEPLOY_USER}",
            f"  IdentityFile {key}",
            "  IdentitiesOnly yes",
            "  StrictHostKeyChecking yes",
            f"  UserKnownHostsFile {known_hosts}",
            "",
        ]
    path.write_text("\n".join(lines))


def write_secrets(path: Path) -> dict[str, str]:
    """Every secret a deploy can need, made up here, in a 0600 file; returned too
    (the testbed's S3 server takes its keys from them)."""
    from stack import tls
    from stack.secrets import SECRETS

    # No alert endpoint here: the alert_* URLs are left out (tests that need
    # one set it in the environment).
    values = {name: _random.token_urlsafe(24) for name in SECRETS if not name.startswith("alert_")}
    # A real age key pair: the recipient is a secret of the deploy, the identity
    # stays here, on the controller, for restores (never on a db host).
    out = run("age-keygen", "-o", str(path.parent / BACKUP_IDENTITY)).stderr
    values["backup_age_recipient"] = out.split("Public key: ")[1].strip()
    values["tls_ca_key"], values["tls_ca_cert"] = tls.new_ca(name="stack testbed CA")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("".join(f"{k}: {json.dumps(v)}\n" for k, v in values.items()))
    return values
