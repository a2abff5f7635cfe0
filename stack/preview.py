"""What a run would change, without changing anything: the plan for a review, and
the drift check.

    python -m stack.preview INVENTORY [FILE] [--summary PATH] [--fail-on-change]
                            [--hash-file PATH] [--expect-hash HASH]

Runs `pyinfra --dry INVENTORY FILE` (deploy.py by default), which connects and
reads the hosts but executes nothing, and sorts each operation on each host:

    changes      it would run as things are: no condition, or its condition holds
                 with nothing else changed first (a config that differs, accounts
                 out of sync, a service stopped...)
    follow-ups   it runs only after one of those changes (a restart for a new config)

pyinfra's own --dry lists every operation with an `_if` as a possible change on
every run; here each condition is asked, as the run would ask it, with every
earlier operation taken as unchanged. --summary appends the plan, as Markdown, to
PATH (a CI job summary); --fail-on-change exits 1 when anything would change (the
drift check), naming the hosts and operations, and shows how each file would change
(`--diff`, stack/diffs.py). Secrets are never in it: a file holding them is shown
key by key, its values hidden.

Every plan has a hash (the sha256 of what it lists and its diffs): --hash-file
writes it where a review job records it, and --expect-hash exits 3 when the plan
now differs from the one reviewed, so an apply that follows applies exactly that.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from collections import defaultdict

from stack import context, pyinfra_private

EXIT_CHANGES = 1
EXIT_PLAN_CHANGED = 3


def classify(state) -> tuple[dict[str, list[str]], dict[str, list[str]], dict[str, list[str]]]:
    """(changes, follow-ups, undecided): host -> operation names, in run order."""
    from pyinfra.context import ctx_host, ctx_state

    changes, follow, undecided = defaultdict(list), defaultdict(list), defaultdict(list)
    hosts = {h.name: h for h in state.inventory}
    with pyinfra_private.nothing_changed() as did_change:  # nothing changed before: what would run anyway?
        for op in pyinfra_private.plan_json(state):
            for name in op["hosts_with_change"]:
                changes[name].append(op["name"])
            for name in op["hosts_with_conditional_change"]:
                host = hosts[name]
                conditions = state.get_op_data_for_host(host, op["op_hash"]).global_arguments["_if"]
                conditions = conditions if isinstance(conditions, list) else [conditions]
                try:
                    with ctx_state.use(state), ctx_host.use(host):
                        # `_if=op.did_change` was bound before the patch: it is False too
                        holds = all(getattr(c, "__func__", None) is not did_change and c() for c in conditions)
                except Exception:  # a condition that needs what the run would have done first
                    undecided[name].append(op["name"])
                    continue
                (changes if holds else follow)[name].append(op["name"])
    return changes, follow, undecided


def plan_hash(changes, follow, undecided, diffs=()) -> str:
    """The plan's identity: which operations would run where, and how each file would change."""
    plan = {"changes": changes, "follow": follow, "undecided": undecided, "diffs": [list(d) for d in diffs]}
    return hashlib.sha256(json.dumps(plan, sort_keys=True).encode()).hexdigest()


def report(target: str, changes, follow, undecided, diffs=()) -> str:
    lines = [f"### pyinfra plan: {target}", "", f"Plan hash: `{plan_hash(changes, follow, undecided, diffs)}`", ""]
    if not changes:
        lines.append("No change: every host is as the deploy describes it.")
    else:
        lines += [f"**{sum(map(len, changes.values()))} operation(s) would change {len(changes)} host(s):**", "",
                  "| host | operation |", "|---|---|"]
        lines += [f"| {host} | {op.replace('|', '&#124;')} |" for host in sorted(changes) for op in changes[host]]
    if follow:
        lines += ["", f"Follow-ups, which run only after a change above (a restart for a new config): "
                      f"{sum(map(len, follow.values()))} (operation, host) pairs."]
    if undecided:
        lines += ["", "Decided only when run (they read what earlier operations did):", ""]
        lines += [f"- {host}: {op}" for host in sorted(undecided) for op in undecided[host]]
    if diffs:  # stack/diffs.py: a secret file's values are hidden already
        lines += ["", "#### What the files would become", ""]
        for host, dest, diff in diffs:
            lines += [f"{host}: `{dest}`", "", "```diff", *diff, "```", ""]
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m stack.preview", description=__doc__.split("\n")[0])
    p.add_argument("inventory")
    p.add_argument("file", nargs="?", default="deploy.py")
    p.add_argument("--summary", help="append the plan as Markdown to this file (a CI job summary)")
    p.add_argument("--fail-on-change", action="store_true", help="exit 1 when anything would change")
    p.add_argument("--hash-file", help="write the plan's hash to this file (a review records it)")
    p.add_argument("--expect-hash", help="exit 3 unless the plan's hash is this one (the plan reviewed)")
    args, pyinfra_args = p.parse_known_args(argv)

    from pyinfra_cli.main import main as pyinfra_main

    result: dict = {}

    def at_the_plan(state, dry):  # pyinfra calls this at the end of a --dry --json run
        result["plan"] = (*classify(state), context.of(state).diffs)
    pyinfra_private.at_dry_run_end(at_the_plan)
    sys.argv = ["pyinfra", "--dry", "--diff", "--json", *pyinfra_args, args.inventory, args.file]
    try:
        pyinfra_main()
    except SystemExit as e:
        if e.code not in (0, None) or "plan" not in result:
            return e.code if isinstance(e.code, int) and e.code else 2
    if "plan" not in result:
        return 2
    text = report(f"{args.inventory} {args.file}", *result["plan"])
    sys.stdout.write(text)
    if args.summary:
        with open(args.summary, "a") as f:
            f.write(text)
    digest = plan_hash(*result["plan"])
    if args.hash_file:
        with open(args.hash_file, "w") as f:
            f.write(digest + "\n")
    if args.expect_hash is not None and digest != args.expect_hash.strip():
        sys.stderr.write(f"preview: the plan is not the one reviewed (reviewed {args.expect_hash.strip()[:12]}, "
                         f"now {digest[:12]}): nothing was applied; plan and review again\n")
        return EXIT_PLAN_CHANGED
    return EXIT_CHANGES if args.fail_on_change and result["plan"][0] else 0


if __name__ == "__main__":
    sys.exit(main())
