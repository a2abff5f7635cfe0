"""Stop a pyinfra run before it contacts any host when the data is bad.

pyinfra loads config.py before the inventory and connects to all hosts at once;
the first ``host_before_connect`` callback is the one moment at which the whole
inventory, group data included, is known and no host has been touched. Validation runs there,
once, and a failure exits the process with every problem listed.
"""

from __future__ import annotations

import os
import sys

from pyinfra.api.state import BaseStateCallback

from stack import validate


def hosts_of(inventory) -> dict[str, tuple[set[str], dict]]:
    return {h.name: (set(h.groups), h.data.dict()) for h in inventory}


class Preflight(BaseStateCallback):
    def __init__(self):
        self.failure: str | None = None
        self.done = False

    def host_before_connect(self, state, host):
        if not self.done:
            self.done = True
            touched = {h.name for h in state.inventory if state.is_host_in_limit(h)}
            found = validate.problems(hosts_of(state.inventory), check_secrets_for=touched)
            if found:
                self.failure = (f"preflight: {len(found)} problem(s), no host was contacted:\n"
                                + "\n".join(f"  - {p}" for p in found))
            else:
                for note in validate.notes(hosts_of(state.inventory), check_secrets_for=touched):
                    sys.stderr.write(f"preflight: note: {note}\n")
        if self.failure:
            # Nothing is connected and nothing needs cleaning up: end the process
            # here, with the one message (an exception from this greenlet would
            # bury it under gevent's tracebacks).
            sys.stderr.write(self.failure + "\n")
            sys.stderr.flush()
            os._exit(1)
