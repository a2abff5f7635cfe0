"""systemd sandboxing for the services we run: one drop-in per unit from one
template (templates/base/sandbox.conf.j2); each task says what its service needs
beyond it. A changed drop-in reloads systemd and restarts the service."""

from pyinfra.operations import systemd

from stack import configs

# Denied to every service but those that list them in ``allow``.
DENIED = ["@privileged", "@resources", "@mount", "@reboot", "@swap", "@module", "@raw-io", "@clock", "@debug",
          "@obsolete", "@cpu-emulation"]


def drop_in(service: str, write=(), capabilities=(), allow=(), private_users=False, restart=True):
    """``write``: paths it writes; ``capabilities``: what it keeps (none by default);
    ``allow``: groups of DENIED it needs. With ``restart=False`` the caller restarts
    it (the app: behind its health gate)."""
    conf = configs.file(
        name=f"{service} sandbox", dest=f"/etc/systemd/system/{service}.service.d/50-stack-sandbox.conf",
        content=configs.render("templates/base/sandbox.conf.j2", service=service, write=write,
                               capabilities=capabilities, denied_syscalls=[g for g in DENIED if g not in allow],
                               private_users=private_users))
    if restart:
        systemd.service(name=f"{service} restarted in its sandbox", service=service, restarted=True,
                        daemon_reload=True, _if=conf.did_change)
    return conf
