"""One app host at a time: switch, restart, health-gate. The first host that
fails is switched back by stack-app, and no later host is touched.

pyinfra runs the activation with ``_serial=True``; this module's state is
shared by all hosts of the run, which is what lets a failure stop the rollout.
"""

from pyinfra import host
from pyinfra.api import StringCommand

_failed: list[str] = []


def activate(release_id: str, sudo: bool):
    if _failed:
        raise RuntimeError(f"rollout stopped: {_failed[0]} failed its health gate; {host.name} not switched")
    ok, output = host.run_shell_command(StringCommand("stack-app", "activate", release_id), _sudo=sudo,
                                        print_output=True)
    if not ok:
        _failed.append(host.name)
        raise RuntimeError(f"{host.name}: {output.stderr or output.stdout}")
