"""Every use of pyinfra's private API, in one place.

pyinfra 3 has no public way to do these; each was read in pyinfra's source for
WRITTEN_FOR. tests/unit/test_pyinfra_private.py fails on any other version, and
checks that each name below still exists: on an upgrade, read each use against
the new source, then bump WRITTEN_FOR.

- ``real``: the object behind pyinfra's context proxies (``pyinfra.host``,
  ``pyinfra.state``), for greenlets of our own (stack.hostfacts) and to patch the
  state itself.
- ``after_state_init``: pyinfra resets a state's callback handlers in
  ``State.init``, which runs after config.py; ours are registered right after it,
  and the run's hosts (``State.limit_hosts``, what --limit set) narrowed by ``limit``.
- ``at_dry_run_end``: pyinfra_cli calls ``print_run_json`` at the end of a
  ``--dry --json`` run; stack.preview takes the state there instead.
- ``plan_json``: pyinfra_cli's own list of what a --dry run would do.
- ``nothing_changed``: every ``did_change`` answers False for a while
  (stack.preview asks each ``_if`` as if no earlier operation had changed).
"""

from __future__ import annotations

import contextlib

WRITTEN_FOR = "3.10.0"


def real(proxy):
    """The object behind a pyinfra context proxy (host, state); anything else as it is."""
    from pyinfra.context import ContextObject

    return proxy._get_module() if isinstance(proxy, ContextObject) else proxy


def after_state_init(*handlers, limit=None):
    """Register state callback ``handlers`` on every run, after pyinfra's ``State.init``
    (which would drop them) has run, and set the run's hosts to ``limit(inventory,
    hosts --limit chose or None)``; called from config.py."""
    from pyinfra import state

    target = real(state)
    if getattr(target, "_stack_hooks_installed", False):
        return
    init = target.init

    def init_then_register(*args, **kwargs):
        init(*args, **kwargs)
        if limit:
            target.limit_hosts = limit(target.inventory, target.limit_hosts)
        for handler in handlers:
            target.add_callback_handler(handler)

    target.init = init_then_register
    target._stack_hooks_installed = True


def at_dry_run_end(callback):
    """``callback(state, dry)`` instead of the JSON pyinfra prints at the end of a --json run."""
    import pyinfra_cli.cli

    pyinfra_cli.cli.print_run_json = callback


def plan_json(state) -> list[dict]:
    """The operations a --dry run would run: name, op_hash, hosts_with_change,
    hosts_with_conditional_change."""
    from pyinfra_cli.prints import build_plan_json

    return build_plan_json(state)


@contextlib.contextmanager
def nothing_changed():
    """Every operation's ``did_change`` is False inside; yields the real method, so a
    caller can tell ``_if=op.did_change`` conditions (bound before) apart."""
    from pyinfra.api.operation import OperationMeta

    did_change = OperationMeta.did_change
    OperationMeta.did_change = lambda self: False
    try:
        yield did_change
    finally:
        OperationMeta.did_change = did_change
