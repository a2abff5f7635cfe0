"""The pyinfra CLI, run in this process with counters, for the converge profile.

    .venv/bin/python -m bench.pyinfra_run OUT.json [pyinfra arguments...]

Runs pyinfra as `pyinfra ARGS` would and writes to OUT.json, when it exits:
the phases (connect, prepare: the deploy files read and prepare-time facts,
execute: the operations), per host the commands run (facts and operations),
their summed round trips and the uploads, and the slowest operations (wall time,
all hosts).
"""

from __future__ import annotations

import atexit
import json
import sys
import time
from collections import defaultdict


def main(out: str, args: list[str]):
    import click
    from pyinfra.api import operations
    from pyinfra.connectors.ssh import SSHConnector

    started = time.monotonic()
    phases: dict[str, float] = {}
    hosts: dict[str, dict] = defaultdict(lambda: {"commands": 0, "command_seconds": 0.0, "uploads": 0,
                                                  "prepare_commands": 0})
    ops = {"with_commands": set(), "total": 0, "seconds": {}}

    def counted(method, key):
        def wrapper(self, *a, **kw):
            t = time.monotonic()
            try:
                return method(self, *a, **kw)
            finally:
                h = hosts[self.host.name]
                h[key] += 1
                if key == "commands":
                    h["command_seconds"] += time.monotonic() - t
                    if "execute" not in phases:
                        h["prepare_commands"] += 1
                    elif "op" in phases:
                        ops["with_commands"].add(phases["op"])
        return wrapper

    SSHConnector.run_shell_command = counted(SSHConnector.run_shell_command, "commands")
    SSHConnector.put_file = counted(SSHConnector.put_file, "uploads")

    # pyinfra announces its phases as "--> Preparing operation files...", "--> Beginning operation run..."
    echo = click.echo

    def phase_echo(message=None, *a, **kw):
        if isinstance(message, str) and message.startswith("--> "):
            for key, text in (("prepare", "Preparing"), ("execute", "Beginning operation run"), ("done", "Results")):
                if message[4:].startswith(text):
                    phases.setdefault(key, time.monotonic() - started)
        return echo(message, *a, **kw)
    click.echo = phase_echo

    run_single_op = operations._run_single_op

    def counting_op(state, op_hash):
        ops["total"] += 1
        phases["op"] = op_hash
        t = time.monotonic()
        try:
            return run_single_op(state, op_hash)
        finally:
            ops["seconds"][", ".join(sorted(state.get_op_meta(op_hash).names))] = time.monotonic() - t
    operations._run_single_op = counting_op

    def write():
        phases.pop("op", None)
        total = time.monotonic() - started
        with open(out, "w") as f:
            slowest = sorted(ops["seconds"].items(), key=lambda kv: -kv[1])[:12]
            json.dump({"seconds": total, "phases": phases, "hosts": hosts, "operations": ops["total"],
                       "operations_with_commands": len(ops["with_commands"]), "slowest": slowest}, f, indent=1)
    atexit.register(write)

    from pyinfra_cli.main import main as pyinfra_main
    sys.argv = ["pyinfra", *args]
    pyinfra_main()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
