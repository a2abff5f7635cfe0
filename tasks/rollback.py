"""Roll the app back: `pyinfra inventories/production.py tasks/rollback.py`, to the
release that ran before the current one, or to `--data release=<id>`.

One app host at a time, behind the health gate (a host that fails it is switched
back to what it ran, and the rollback stops there). Logged as `rollback` in each
host's revisions.log, in the audit_log table, and as a `rollback` point.

Refused before anything is touched: an unknown release id, a release that is not
installed on every app host, or app hosts that do not run the same release now
(without --data release=, "the previous one" would mean different things).
The database is not touched: the schema stays as it is (releases are expand-first).
"""

import time

from pyinfra import host, inventory
from pyinfra.facts.server import Command
from pyinfra.operations import python

from stack import metrics, rollout
from stack.shell import argv

apps = inventory.get_group("app_servers")
facts = {h.name: {"current": h.get_fact(Command, command="stack-app current 2>/dev/null || true"),
                  "previous": h.get_fact(Command, command="stack-app previous 2>/dev/null || true"),
                  "installed": (h.get_fact(Command, command="stack-app releases 2>/dev/null || true") or "").split()}
         for h in apps}
target = host.data.get("release")  # its form is checked by preflight
if not target:
    currents = {f["current"] for f in facts.values()}
    if len(currents) != 1:
        raise ValueError(f"the app hosts run different releases ({', '.join(sorted(currents))}): "
                         "say which one to roll back to with --data release=<id>")
    previous = {f["previous"] for f in facts.values()}
    if len(previous) != 1 or previous == {""}:
        raise ValueError("the app hosts have no common previous release to roll back to: "
                         "say which one with --data release=<id>")
    target = previous.pop()
missing = sorted(name for name, f in facts.items() if target not in f["installed"])
if missing:
    known = sorted(set.intersection(*(set(f["installed"]) for f in facts.values())))
    raise ValueError(f"release {target} is not installed on {', '.join(missing)}; "
                     f"installed on every app host: {', '.join(known) or 'none'}")



def record():
    """Once every app host switched: the rows in the app database, with the time taken."""
    ok, out = host.run_shell_command(argv(
        "stack-app", "record", "rollback", target, "--success", "1", "--duration",
        f"{time.monotonic() - metrics.STARTED:.1f}", "--detail", f"from {facts[host.name]['current'] or 'none'}"),
        _sudo=bool(host.data.get("_sudo")), print_output=True)
    if not ok:
        raise RuntimeError(f"the rollback is done, but its record failed: {out.stderr}")


metrics.record_run("rollback", release=lambda: target)
if "app_servers" in host.groups:
    python.call(name=f"Roll back to {target}, one host at a time, behind the health gate",
                function=rollout.activate, release_id=target, sudo=bool(host.data.get("_sudo")), action="rollback",
                _serial=True, _if=lambda: facts[host.name]["current"] != target)
    python.call(name="Rollback recorded (deployment_record, audit_log)", function=record,
                _if=lambda: host.name == apps[0].name and facts[host.name]["current"] != target)
