"""One flow at a time, as Kamal's deploy lock: who holds it, which flow, since when,
from which controller.

Every run that executes operations (deploy.py, a component's task file, every flow)
takes the lock on each host it reached, at its first operation, before anything
runs: a directory in the SSH user's home (``mkdir`` is atomic) holding a JSON
note. A run that finds a lock on any of its hosts releases what it took and is
refused with the holder's note: two flows never touch the same host at once (a
restore and a deploy, a rollback and a migration). The lock goes when the run ends,
failed or not: pyinfra disconnects every host at the end. A controller killed
mid-run leaves it behind; ``--data break_lock=yes`` breaks it on purpose, and the
run and the host's syslog say whose lock it broke. --dry runs execute nothing and
take no lock.

Runs on hosts that share none (``--limit web1`` and ``--limit db1``) may run side by
side: each flow locks every host it touches.
"""

from __future__ import annotations

import datetime
import getpass
import json
import os
import shlex
import socket
import sys

from pyinfra import logger
from pyinfra.api import StringCommand
from pyinfra.api.state import BaseStateCallback

LOCK = ".stack-flow-lock"  # in the SSH user's home: no sudo needed, on every host
NOTE = f"{LOCK}/holder.json"


def holder(argv: list[str], environ=os.environ) -> dict:
    """This run's note: who, which flow (the deploy files named, never --data values,
    which may hold anything), since when, from which controller and process."""
    files = [a for a in argv[1:] if a.endswith(".py") and not a.startswith("-")][1:]  # after the inventory
    who = (f"{environ['GITHUB_ACTOR']} (GitHub Actions run {environ.get('GITHUB_RUN_ID', '?')})"
           if environ.get("GITHUB_ACTOR") else getpass.getuser())
    since = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"who": who, "flow": " ".join(files) or "pyinfra", "controller": socket.gethostname(),
            "pid": os.getpid(), "since": since}


def describe(note: dict) -> str:
    return (f"{note.get('who', '?')} runs {note.get('flow', '?')} from {note.get('controller', '?')} "
            f"(pid {note.get('pid', '?')}) since {note.get('since', '?')}")


def _sh(host, command: str):
    ok, out = host.run_shell_command(StringCommand(command), _sudo=False)
    return ok, out.stdout.strip()


def acquire(host, note: dict) -> dict | None:
    """Takes the lock on ``host``; the holder's note when another run holds it."""
    ok, _ = _sh(host, f'mkdir "$HOME/{LOCK}" && printf %s {shlex.quote(json.dumps(note))} > "$HOME/{NOTE}"')
    if ok:
        return None
    _, text = _sh(host, f'cat "$HOME/{NOTE}" 2>/dev/null || true')
    try:
        return json.loads(text)
    except ValueError:  # a controller killed between mkdir and the note
        return {"who": "a run that died before writing its note"}


def release(host):
    _sh(host, f'rm -rf "$HOME/{LOCK}"')


class FlowLock(BaseStateCallback):
    def __init__(self):
        self.held: list = []
        self.tried = False

    def operation_start(self, state, op_hash):
        if self.tried:
            return
        self.tried = True
        note = holder(sys.argv)
        for host in sorted(state.activated_hosts, key=lambda h: h.name):
            found = acquire(host, note)
            if found and str(host.data.get("break_lock", "")) == "yes":
                broke = f"broke the flow lock on {host.name}: {describe(found)}"
                logger.warning(f"{host.name}: {broke} (--data break_lock=yes)")
                _sh(host, f"logger -t stack-flow-lock {shlex.quote(broke + ' for ' + describe(note))}")
                release(host)
                found = acquire(host, note)
            if found:
                for held in self.held:
                    release(held)
                # As preflight does: one clear line, no traceback; nothing has run.
                sys.stderr.write(f"flow lock: {host.name} is locked: {describe(found)}. Wait for it to end; "
                                 "if its controller died, run again with --data break_lock=yes. "
                                 "No host was changed.\n")
                sys.stderr.flush()
                os._exit(1)
            self.held.append(host)

    def host_disconnect(self, state, host):
        if host in self.held:
            release(host)
            self.held.remove(host)
