"""One app host at a time: switch, restart, health-gate. The first host that
fails is switched back by stack-app, and no later host is touched. Nothing is
migrated or switched while a data-tier host the app needs failed in this run
(``data_tier_barrier``, called by deploy.py).

pyinfra runs the activation with ``_serial=True``; this module's state is
shared by all hosts of the run, which is what lets a failure stop the rollout.
"""

from pyinfra import host, inventory, state
from pyinfra.operations import python

from stack import topology
from stack.shell import argv

_failed: list[str] = []


def activate(release_id: str, sudo: bool, action: str = "deploy"):
    if _failed:
        raise RuntimeError(f"rollout stopped: {_failed[0]} failed its health gate; {host.name} not switched")
    ok, output = host.run_shell_command(argv("stack-app", "activate", release_id, "--action", action), _sudo=sudo,
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


def data_tier_barrier():
    """One operation every host of the run shares, so pyinfra orders everything
    before it (the data tier) before everything after it (the app tier): ops only
    some hosts have are otherwise ordered per host, and an app host could reach its
    migration while the primary is still converging. On an app host it fails when
    the db primary or a cache host failed."""
    data_tier = [topology.primary().name, *(h.name for h in inventory.get_group("cache_servers", []))]
    python.call(name="Data tier converged on every host (else no app host migrates or switches)",
                function=stop_for_data_tier, names=data_tier,
                _if=lambda: "app_servers" in host.groups and bool(failed(data_tier)))
