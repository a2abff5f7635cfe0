"""One app host at a time: switch, restart, health-gate, then bake (its traffic
watched at nginx: error rate and P99), as Flagger and Argo Rollouts do. When a host
fails its gate or its bake, it and every host this run already switched go back to
the release each ran before, and no later host is touched: the fleet is never left
half on the new release. Rollbacks are baked too. Nothing is migrated or switched
while a data-tier host the app needs failed in this run (``data_tier_barrier``,
called by deploy.py).

pyinfra runs the activation with ``_serial=True``; the run's context
(stack.context) is shared by all hosts of the run, which is what lets a failure
stop the rollout.
"""

import contextlib
import datetime
import json
import time
from pathlib import Path

from pyinfra import host, inventory, logger, state

from stack import context, migration, pyinfra_private, shards, topology
from stack.checks import Refused
from stack.shell import argv, call

# Fewer requests than this in a bake window judge nothing: the window is inconclusive,
# and the host passes with a warning saying so (a quiet environment must still deploy;
# a release that fails under traffic is caught where there is traffic).
MIN_REQUESTS = 10
SAY_EVERY = 15  # seconds between a bake's progress lines


def activate(release_id: str, sudo: bool, action: str = "deploy"):
    run = context.current()
    if run.rollout_failed:
        raise RuntimeError(f"rollout stopped: {run.rollout_failed[0]} failed its health gate or its bake; "
                           f"{host.name} not switched")
    if action == "deploy":
        migration.allows(release_id)  # raises unless the release's schema is applied
    before = host.run_shell_command(argv("stack-app", "current"), _sudo=sudo)[1].stdout.strip()
    ok, output = host.run_shell_command(argv("stack-app", "activate", release_id, "--action", action),
                                        _sudo=sudo, print_output=True)
    if not ok:  # stack-app switched this host back itself
        run.rollout_failed.append(host.name)
        others = switch_back_the_others(run, sudo)
        raise RuntimeError(f"{host.name}: {output.stderr or output.stdout}{others}")
    run.rollout_switched.append((pyinfra_private.real(host), before))  # the host, not the context proxy
    bake(release_id, sudo, action)


def switch_back_the_others(run, sudo: bool) -> str:
    """Every host this run switched before the failing one, back to its release before
    the run; what was done, for the failure's message."""
    said = []
    for other, before in reversed(run.rollout_switched):
        if other.name == host.name:  # the failing host itself: already handled
            continue
        if not before:
            said.append(f"{other.name} had no release before: left on it")
            continue
        ok, out = other.run_shell_command(argv("stack-app", "activate", before, "--action", "rollback"),
                                          _sudo=sudo, print_output=True)
        failed = "" if ok else f", WHICH FAILED: {out.stderr}"
        said.append(f"{other.name} switched back to {before}{failed}")
    return "; " + "; ".join(said) if said else ""


# Runs on each web host (python3 -c): this app host's requests at nginx since the switch.
TRAFFIC = (Path(__file__).parent / "hosttools/traffic.py").read_text()


def traffic(upstream: str, since) -> tuple[int, int, float]:
    """(requests, 5xx, P99 s) for one app host, over every web host's log. A log that
    cannot be read fails: a bake that saw nothing has judged nothing."""
    total, errors, p99 = 0, 0, 0.0
    for web in watched():
        ok, out = web.run_shell_command(argv("python3", "-c", TRAFFIC, upstream, since.isoformat()),
                                        _sudo=bool(web.data.get("_sudo")))
        if not ok:
            raise BakeFailed(f"nginx's log on {web.name} could not be read: {out.stderr.strip()[-300:]}")
        seen = json.loads(out.stdout)
        total, errors, p99 = total + seen["requests"], errors + seen["errors"], max(p99, seen["p99"])
    return total, errors, p99


class BakeFailed(RuntimeError):
    pass


def verdict(what: str, requests: int, errors: int, p99: float, data) -> str | None:
    """Why a bake window fails (``what``: "error rate" or "P99"), if it does; None when it
    passes or, with fewer than MIN_REQUESTS requests, is inconclusive."""
    if requests < MIN_REQUESTS:
        return None
    rate = 100 * errors / requests
    if what == "error rate" and rate > data.app_bake_error_rate_percent:
        return f"{rate:.1f}% of {requests} requests (limit {data.app_bake_error_rate_percent}%)"
    if what == "P99" and p99 > data.app_bake_p99_limit:
        return f"P99 {p99:.2f}s over {requests} requests (limit {data.app_bake_p99_limit}s)"
    return None


def watched() -> list:
    """The web hosts whose logs a bake reads: those this run reached (a --limit may
    leave them out); in a shard's run, which converges no web host, every web host,
    connected only to be read (not locked: the core's run owns them)."""
    web = inventory.get_group("web_servers", [])
    if shards.of(inventory):
        for h in web:
            if not h.connected:
                h.connect(reason="its log read for the bakes")
        unreached = [h.name for h in web if not h.connected]
        if unreached:  # a bake that reads fewer logs than there are judges on less: it fails
            raise BakeFailed(f"web host(s) {', '.join(unreached)} could not be reached to read their logs")
        return web
    return [h for h in web if h in state.activated_hosts]


def bake(release_id: str, sudo: bool, action: str):
    """After a host switched: its traffic watched at nginx for the bake windows. An
    error rate or P99 past the seed's thresholds over a whole window, or a log that
    cannot be read, fails the bake; /health alone misses a release whose endpoints
    fail. A deploy's failed bake switches this host and every host switched before it
    back; a rollback's stops where it is (there is no better release to go to)."""
    d, run = host.data, context.current()
    try:
        readable = watched()
    except BakeFailed as e:
        run.rollout_failed.append(host.name)
        raise RuntimeError(f"{host.name}: {release_id} failed its bake: {e}{back_out(action, sudo, 0)}") from None
    if not readable:
        logger.warning(f"{host.name}: no web host is in this run (--limit): {release_id} is not baked")
        return
    windows = {"error rate": d.app_bake_error_rate_seconds, "P99": d.app_bake_p99_seconds}
    upstream, switched = f"{d.private_address}:{d.app_port}", datetime.datetime.now(datetime.timezone.utc)
    # the first progress line once the shortest of a bake's length and SAY_EVERY has passed
    clock, judged, say_at = time.monotonic(), set(), min(SAY_EVERY, max(windows.values()))
    while True:
        time.sleep(1)
        elapsed = time.monotonic() - clock
        if elapsed >= say_at:
            say_at = elapsed + SAY_EVERY
            with contextlib.suppress(BakeFailed):  # a log that can't be read fails in the window check below
                requests, errors, p99 = traffic(upstream, switched)
                logger.info(f"--> {host.name}: baking {release_id}: {elapsed:.0f} of {max(windows.values())}s, "
                            f"{requests} requests, {errors} 5xx, P99 {p99:.2f}s")
        for what, window in windows.items():
            if elapsed < window:
                continue
            since = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=window)
            try:
                requests, errors, p99 = traffic(upstream, max(since, switched))
                why = verdict(what, requests, errors, p99, d)
            except BakeFailed as e:
                why = str(e)
                requests = MIN_REQUESTS
            if requests >= MIN_REQUESTS:
                judged.add(what)
            if why:
                run.rollout_failed.append(host.name)
                after = back_out(action, sudo, time.monotonic() - clock)
                raise RuntimeError(f"{host.name}: {release_id} failed its bake: {what} over the last "
                                   f"{window}s: {why}{after}")
        if elapsed >= max(windows.values()):
            if judged == set(windows):
                logger.info(f"--> {host.name}: {release_id} baked {elapsed:.0f}s: error rate and P99 within "
                            "limits")
            else:
                logger.warning(f"{host.name}: {release_id} baked {elapsed:.0f}s, inconclusive: fewer than "
                               f"{MIN_REQUESTS} requests in a window, so nothing was judged; it stays")
            return


def back_out(action: str, sudo: bool, seconds: float) -> str:
    """After a failed bake: a deploy's hosts back where they were; what was done."""
    if action != "deploy":
        return "; the rollback stops here: no later host is switched"
    previous = host.run_shell_command(argv("stack-app", "previous"), _sudo=sudo)[1].stdout.strip()
    others = switch_back_the_others(context.current(), sudo)
    if not previous:  # a first deploy: nothing to go back to
        return f"; {host.name} had no release before: left on it{others}"
    back, out = host.run_shell_command(argv("stack-app", "activate", previous, "--action", "rollback"),
                                       _sudo=sudo, print_output=True)
    failed = "" if back else f", WHICH FAILED: {out.stderr}"
    return f"; switched back to {previous} {seconds:.1f}s after the switch{failed}{others}"


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
    call(name="Data tier converged on every host (else no app host migrates or switches)",
         function=stop_for_data_tier, names=data_tier,
         _if=lambda: "app_servers" in host.groups and bool(failed(data_tier)))


def rollback_target(facts: dict[str, dict]) -> str:
    """What "the previous release" means for these app hosts ({name: stack-app status}).
    One release everywhere: the one it replaced. Two, where every host on one of them
    has the other as its previous: a rollout or a rollback that stopped part-way (its
    controller died), finished towards the release some hosts already run."""
    currents = {f["current"] for f in facts.values()}
    if len(currents) == 1:
        previous = {f["previous"] for f in facts.values()}
        if len(previous) != 1 or previous == {""}:
            raise Refused("the app hosts have no common previous release to roll back to: "
                             "say which one with --data release=<id>")
        return previous.pop()
    towards = [x for x in currents if len(currents) == 2
               and all(f["previous"] == x for f in facts.values() if f["current"] != x)]
    if len(towards) != 1:
        raise Refused(f"the app hosts run different releases ({', '.join(sorted(currents))}): "
                         "say which one to roll back to with --data release=<id>")
    return towards[0]
