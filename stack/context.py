"""What the task files of one run hand each other, in one object per run.

pyinfra prepares every task file of a run in one process, host after host, and some
of them pass on what they found: tasks/app.py tells tasks/app_switch.py what to switch
to, tasks/tls.py tells the services whether their certificate changed, the migration
flow keeps its plan and outcome. That lives here, not in module globals:
``current()`` is the context of the running pyinfra State, made at its first use
(config.py asks first, so ``started`` is when the run began).
"""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable

from pyinfra import state

from stack import pyinfra_private


@dataclass
class Planned:
    """What tasks/app.py leaves for tasks/app_switch.py, per app host."""
    release_id: str
    switch: Callable[[], bool]  # asked when the switch would run
    prune: bool


@dataclass
class Context:
    started: float = field(default_factory=time.monotonic)  # the run's start (time.monotonic)
    release: str | None = None  # the release artifact built in this run (stack.artifact.build)
    planned: dict[str, Planned] = field(default_factory=dict)  # app host -> its switch
    # app hosts whose switch or bake failed: no later host is switched
    rollout_failed: list[str] = field(default_factory=list)
    # (app host, the release it ran before) for each host the rollout switched, in order: a
    # failure later in the run switches them all back
    rollout_switched: list[tuple[Any, str]] = field(default_factory=list)
    # host -> the operations that put new TLS files there in this run
    tls_changes: dict[str, list] = field(default_factory=dict)
    # An operation changed something, or failed, on any host (stack.hooks.Changes): until then
    # every file is as the run found it.
    changed: bool = False
    migration: Any = None  # the migration flow's stack.migration.Run, made by it
    # under --diff, (host, file, the diff's lines) for each file the run would change (stack.diffs)
    diffs: list[tuple[str, str, list[str]]] = field(default_factory=list)


_contexts: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_outside_a_run = Context()  # code called with no pyinfra State (unit tests, tools)


def of(run) -> Context:
    """The context of pyinfra State ``run`` (callbacks get theirs as an argument)."""
    if run is None:
        return _outside_a_run
    if run not in _contexts:
        _contexts[run] = Context()
    return _contexts[run]


def current() -> Context:
    return of(pyinfra_private.real(state))
