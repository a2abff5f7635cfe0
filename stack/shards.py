"""Fleets past one controller: a converge split into deterministic shards, each run by
a controller of its own (docs/fleet.md).

    --data shard=core   the data tier, the monitoring and web hosts, and the first app
                        host: everything the rest depends on, the migration included
    --data shard=i/n    the i-th of n shards of the rest (the other app hosts, base-only
                        hosts): every n-th by name, the same hosts on every run

The pipeline runs core first, then the n shards side by side. A shard's run converges
its own hosts only, and its app hosts switch one at a time as in any run; their bakes
read the web hosts' logs (stack/rollout.py), which the shard neither converges nor locks.
"""

from __future__ import annotations

import json
import re
import sys

CORE_GROUPS = {"db_servers", "cache_servers", "monitoring_servers", "web_servers"}


def parse(shard: str) -> tuple[int, int] | None:
    """(i, n) of "i/n"; None for "core"."""
    if shard == "core":
        return None
    m = re.fullmatch(r"([1-9][0-9]*)/([1-9][0-9]*)", str(shard))
    if not m or int(m[1]) > int(m[2]):
        from stack.checks import Invalid  # (pyinfra's: not needed by the pipeline's `python3 -m stack.shards`)

        raise Invalid(f"{shard!r} is not core or i/n with 1 <= i <= n")
    return int(m[1]), int(m[2])


def check(v):
    parse(v)


check.text = "core, or i/n with 1 <= i <= n"  # (stack.checks.described, without pyinfra)


def core(inventory) -> list:
    apps = inventory.get_group("app_servers", [])
    runner = apps[:1]  # the migration's (stack.migration.runner)
    return [h for h in inventory if CORE_GROUPS & set(h.groups) or h in runner]


def members(inventory, shard: str) -> list:
    """The hosts of ``shard``, in the inventory's order."""
    where = parse(shard)
    if where is None:
        return core(inventory)
    i, n = where
    kept = set(core(inventory))
    rest = sorted((h for h in inventory if h not in kept), key=lambda h: h.name)
    mine = set(rest[i - 1::n])
    return [h for h in inventory if h in mine]


def of(inventory) -> str | None:
    """This run's --data shard, if any (--data reaches every host alike)."""
    return next((h.data.get("shard") for h in inventory), None)


def limit(inventory, current: list | None) -> list | None:
    """The run's hosts: its --limit (all when none), narrowed to its shard."""
    shard = of(inventory)
    if not shard:
        return current
    from stack.checks import Invalid, Refused

    try:
        mine = members(inventory, shard)
    except Invalid as e:  # before preflight: pyinfra prints a refusal as its one line
        raise Refused(f"--data shard: {e}") from None
    if not mine:
        raise Refused(f"shard {shard} has no hosts: the fleet has fewer hosts than shards; use fewer")
    return [h for h in (current if current is not None else inventory) if h in mine]


def names(n: int) -> list[str]:
    """Every shard of a fleet split n ways, core first: the pipeline's matrix."""
    return ["core", *(f"{i}/{n}" for i in range(1, n + 1))]


def matrix(n: int) -> str:
    """The fleet's shards as the pipeline's matrix (production.yml): shard, and its id in artifact names."""
    return json.dumps([{"shard": s, "id": s.replace("/", "-of-")} for s in names(n)[1:]])


if __name__ == "__main__":  # python3 -m stack.shards N: standard library only, for the pipeline's split job
    n = int(sys.argv[1]) if sys.argv[1:] and sys.argv[1].isdigit() else 0
    if n < 1:
        sys.exit("stack.shards: the number of shards is a whole number, at least 1")
    print(matrix(n))
