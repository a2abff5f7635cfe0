"""systemd services kept running and enabled (or not), checked from one listing per host."""

from pyinfra.operations import systemd

from stack import hostfacts


def kept(name: str, service: str, running: bool | None = True, enabled: bool = True):
    """systemd.service(running=, enabled=), only when the service is not so already:
    each of pyinfra's service operations asks systemctl twice on every run, this
    reads every unit once per host. ``running=None``: its state is left alone."""
    unit = service if "." in service else f"{service}.service"
    now_running, now_enabled = hostfacts.units().get(unit, (False, False))
    if now_enabled == enabled and running in (None, now_running):
        return
    systemd.service(name=name, service=service, running=running, enabled=enabled)
