"""One app host at a time: switch, restart, health-gate, then bake (its traffic
watched at nginx: error rate and P99). The first host that fails is switched
back, and no later host is touched. Nothing is
migrated or switched while a data-tier host the app needs failed in this run
(``data_tier_barrier``, called by deploy.py).

pyinfra runs the activation with ``_serial=True``; the run's context
(stack.context) is shared by all hosts of the run, which is what lets a failure
stop the rollout.
"""

import datetime
import json
import time
from pathlib import Path

from pyinfra import host, inventory, logger, state
from pyinfra.operations import python

from stack import context, migration, topology
from stack.shell import argv

def activate(release_id: str, sudo: bool, action: str = "deploy"):
    failed = context.current().rollout_failed
    if failed:
        raise RuntimeError(f"rollout stopped: {failed[0]} failed its health gate; {host.name} not switched")
    if action == "deploy":
        migration.allows(release_id)  # raises unless the release's schema is applied
    ok, output = host.run_shell_command(argv("stack-app", "activate", release_id, "--action", action), _sudo=sudo,
                                        print_output=True)
    if not ok:
        failed.append(host.name)
        raise RuntimeError(f"{host.name}: {output.stderr or output.stdout}")
    if action == "deploy":
        bake(release_id, sudo)


# Runs on each web host (python3 -c): this app host's requests at nginx since the switch.
TRAFFIC = (Path(__file__).parent / "hosttools/traffic.py").read_text()


def traffic(upstream: str, since) -> tuple[int, int, float]:
    """(requests, 5xx, P99 s) for one app host, over every web host's log."""
    total, errors, p99 = 0, 0, 0.0
    for web in watched():
        ok, out = web.run_shell_command(argv("python3", "-c", TRAFFIC, upstream, since.isoformat()),
                                        _sudo=bool(web.data.get("_sudo")))
        if ok:
            seen = json.loads(out.stdout)
            total, errors, p99 = total + seen["requests"], errors + seen["errors"], max(p99, seen["p99"])
    return total, errors, p99


def watched() -> list:
    """The web hosts this run reached (a --limit may leave them out)."""
    return [h for h in inventory.get_group("web_servers", []) if h in state.activated_hosts]


def bake(release_id: str, sudo: bool):
    """After a host switched: its traffic watched at nginx for the bake windows. An
    error rate or P99 past the seed's thresholds over a whole window switches it back
    and stops the rollout; /health alone misses a release whose endpoints fail."""
    d = host.data
    if not watched():
        logger.warning(f"{host.name}: no web host is in this run (--limit): {release_id} is not baked")
        return
    windows = {"error rate": d.app_bake_error_rate_seconds, "P99": d.app_bake_p99_seconds}
    upstream, switched = f"{d.private_address}:{d.app_port}", datetime.datetime.now(datetime.timezone.utc)
    clock = time.monotonic()
    while True:
        time.sleep(1)
        elapsed = time.monotonic() - clock
        for what, window in windows.items():
            if elapsed < window:
                continue
            since = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=window)
            requests, errors, p99 = traffic(upstream, max(since, switched))
            rate = 100 * errors / requests if requests else 0.0
            bad = (what == "error rate" and requests >= 10 and rate > d.app_bake_error_rate_percent) or \
                  (what == "P99" and requests >= 10 and p99 > d.app_bake_p99_limit)
            if bad:
                context.current().rollout_failed.append(host.name)
                seconds = time.monotonic() - clock
                previous = host.run_shell_command(argv("stack-app", "previous"), _sudo=sudo)[1].stdout.strip()
                back, out = host.run_shell_command(argv("stack-app", "activate", previous, "--action", "rollback"),
                                                   _sudo=sudo, print_output=True)
                raise RuntimeError(
                    f"{host.name}: {release_id} failed its bake: {what} over the last {window}s was "
                    f"{rate:.1f}% of {requests} requests (limit {d.app_bake_error_rate_percent}%), P99 {p99:.2f}s "
                    f"(limit {d.app_bake_p99_limit}s); switched back to {previous or 'nothing'} "
                    f"{seconds:.1f}s after the switch" + ("" if back else f", WHICH FAILED: {out.stderr}"))
        if elapsed >= max(windows.values()):
            logger.info(f"--> {host.name}: {release_id} baked {elapsed:.0f}s: error rate and P99 within limits")
            return


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
