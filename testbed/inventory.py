"""pyinfra inventory entries for a booted testbed (inventories/testbed.py)."""

import os
from pathlib import Path

from testbed.access import BACKUP_IDENTITY
from testbed.hosts import Testbed


def inventory_group(group: str) -> list[tuple[str, dict]]:
    """pyinfra inventory entries for one group of the testbed named by
    TESTBED_NAME (default ``tb``), read from its state file. The user and sudo
    come from group data, as in production."""
    state = Testbed(name=os.environ.get("TESTBED_NAME", "tb"), hosts=()).load_state()
    return [
        (name, {
            "ssh_hostname": info["address"],
            "ssh_key": state["ssh_key"],
            "ssh_known_hosts_file": state["known_hosts"],
            "ssh_strict_host_key_checking": "yes",
            "private_address": info["address"],
            "base_apt_proxy": state["apt_proxy"],
            "secrets_file": state["secrets_file"],
            "backup_age_identity_file": str(Path(state["secrets_file"]).with_name(BACKUP_IDENTITY)),
            "backup_s3_endpoint": state["s3_endpoint"],
            **info["data"],
        })
        for name, info in state["hosts"].items()
        if group in info["groups"]
    ]
