"""One app host at a time: switch, restart, health-gate. The first host that
fails is switched back by stack-app, and no later host is touched. Nothing is
migrated or switched while a data-tier host the app needs failed in this run.

pyinfra runs the activation with ``_serial=True``; this module's state is
shared by all hosts of the run, which is what lets a failure stop the rollout.
"""

from pyinfra import host, state
from stack.shell import argv

_failed: list[str] = []


def activate(release_id: str, sudo: bool):
    if _failed:
        raise RuntimeError(f"rollout stopped: {_failed[0]} failed its health gate; {host.name} not switched")
    ok, output = host.run_shell_command(argv("stack-app", "activate", release_id), _sudo=sudo,
                                        print_output=True)
    if not ok:
        _failed.append(host.name)
        raise RuntimeError(f"{host.name}: {output.stderr or output.stdout}")


def failed(names: list[str]) -> list[str]:
    """Those of these hosts that failed in this run so far."""
    return sorted(h.name for h in state.failed_hosts if h.name in names)


def stop_for_data_tier(names: list[str]):
    """Fails this app host, so that it neither migrates nor switches: a data-tier
    host its release needs failed its converge in this run."""
    raise RuntimeError(f"{', '.join(failed(names))} failed in this run: {host.name} is not migrated and not "
                       "switched; it keeps serving its current release")
