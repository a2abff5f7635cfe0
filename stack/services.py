"""systemd services kept running and enabled (or not), checked from one listing per host,
and the groups their users are in."""

from pyinfra.operations import server, systemd

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


def member(name: str, user: str, group: str):
    """``user`` (a service's) added to ``group``, when it is not in it: its groups are read
    with one cheap fact first, since pyinfra's user operation lists every user and their
    last logins (0.3-0.6 s a host) even when nothing is to change."""
    if group not in hostfacts.groups_of(user):
        server.user(name=name, user=user, groups=[group], append=True, create_home=False)
