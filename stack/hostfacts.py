"""Facts about the current host that several tasks need."""

from pyinfra import host
from pyinfra.facts.server import Command


def container() -> str:
    """The container technology the host runs in ("systemd-nspawn", ...), or "" on a
    machine of its own. Kernel-wide settings and the clock belong to the machine."""
    virt = host.get_fact(Command, command="systemd-detect-virt --container || true") or ""
    return "" if virt == "none" else virt
