"""Local testbed: disposable Debian hosts (13 trixie by default, or 12 bookworm)
booted by systemd-nspawn, reached over SSH as production is (the deploy user, sudo,
strict host keys).

    python -m testbed [--release trixie|bookworm] up|down|status|ssh HOST

Everything a testbed makes is named after it (``--name``, default ``tb``): the
bridge ``<name>-br``, one netns and veth ``<name>-<host>`` per host, and one
state directory holding addresses, key, ssh_config, known_hosts and secrets.

    machine.py   this controller: commands, ports, cgroups, kernel limits
    rootfs.py    the cached debootstrap rootfs, with the deploy user
    hosts.py     Testbed: boot, state, ssh, status
    s3.py        the S3 server backups go to (SeaweedFS), on the bridge address
    access.py    ssh_config and generated secrets
    inventory.py pyinfra inventory entries from the state file
    teardown.py  finding and removing everything a testbed made

Product code never imports this package: only inventories/testbed.py and the tests do.
"""

from testbed.inventory import inventory_group
from testbed.hosts import TOPOLOGY, Testbed
from testbed.machine import TestbedError
from testbed.rootfs import apt_mirror

__all__ = ["TOPOLOGY", "Testbed", "TestbedError", "apt_mirror", "inventory_group"]
