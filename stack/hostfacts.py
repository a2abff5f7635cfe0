"""Facts about the hosts that several tasks need, each read once per host and run.

pyinfra 3 caches no fact: every read is one more command on the host. Read at
prepare time, before any operation executes, a fact has the same answer however
often it is asked, so these keep the first answer. The files our file operations
manage are read when those run: all of a host's at once while the run has changed
nothing yet, one by one after that.
"""

import hashlib
import json
import shlex

import gevent
from pyinfra import host as current_host
from pyinfra.api import FactBase
from pyinfra.context import ctx_host, ctx_state
from pyinfra.facts.deb import DebPackages
from pyinfra.facts.server import Command, LinuxDistribution
from pyinfra.facts.systemd import SystemdStatus

from stack import context, pyinfra_private

# (host, fact, command) -> the greenlet that reads it: hosts are prepared side by side,
# and a second asker (another host's deploy reading the same runner) waits for the first.
_reads: dict[tuple, gevent.Greenlet] = {}


def _read(target, fact, kwargs):
    with ctx_state.use(target.state), ctx_host.use(target):  # a new greenlet has no pyinfra context
        return target.get_fact(fact, **kwargs)


def _once(target, fact, **kwargs):
    key = (target.name, fact.__name__, tuple(sorted(kwargs.items())))
    if key not in _reads:
        _reads[key] = gevent.spawn(_read, target, fact, kwargs)
    return _reads[key].get()


def output(command: str, on=None) -> str | None:
    """The output of ``command`` on the current host (or ``on``), read once per run."""
    return _once(on or pyinfra_private.real(current_host), Command, command=command)


def installed_packages() -> dict:
    """pyinfra's DebPackages (name -> versions), read once: the largest fact a host sends."""
    return _once(pyinfra_private.real(current_host), DebPackages)


def distribution() -> dict:
    """pyinfra's LinuxDistribution (name, major version, release_meta), read once."""
    return _once(pyinfra_private.real(current_host), LinuxDistribution)


def container() -> str:
    """The container technology the host runs in ("systemd-nspawn", ...), or "" on a
    machine of its own. Kernel-wide settings and the clock belong to the machine."""
    virt = output("systemd-detect-virt --container || true") or ""
    return "" if virt == "none" else virt


def passwd(user: str) -> dict | None:
    """The user's passwd entry (home, shell), or None. pyinfra's Users fact lists every
    user with its groups and last login (a shell loop: 0.3-0.6 s); this is one line."""
    line = output(f"getent passwd {shlex.quote(user)} || true")
    if not line:
        return None
    fields = line.split(":")
    return {"home": fields[5], "shell": fields[6]}


def groups_of(user: str) -> set[str]:
    """The groups ``user`` is in (none when there is no such user yet)."""
    return set((output(f"id -nG {shlex.quote(user)} 2>/dev/null || true") or "").split())


NO_APP = {"current": "", "previous": "", "installed": [], "stale": True, "python": ""}  # no stack-app, no release yet


def app_status(on=None) -> dict:
    """stack-app status on an app host: current, previous and installed releases and
    whether the service predates its settings, in one round trip. What an older
    stack-app leaves out is NO_APP's (stale: the app restarts once, behind its gate)."""
    return {**NO_APP, **json.loads(output(f"stack-app status 2>/dev/null || echo {shlex.quote(json.dumps(NO_APP))}",
                                          on) or "{}")}


class Units(FactBase):
    """Every loaded systemd unit -> (running, enabled), from one systemctl call.
    "running" and "enabled" are what pyinfra's systemd facts call so."""

    default = dict  # no output: no systemd (a chroot)

    def command(self):
        return "systemctl show --property=Id,SubState,UnitFileState '*' 2>/dev/null || true"  # none in a chroot

    def process(self, output):
        units, unit = {}, {}
        for line in [*output, ""]:
            key, _, value = line.strip().partition("=")
            if not key and unit.get("Id"):
                units[unit["Id"]] = (unit.get("SubState") in SystemdStatus.state_values,
                                     unit.get("UnitFileState") == "enabled")
                unit = {}
            elif key:
                unit[key] = value
        return units


def units() -> dict[str, tuple[bool, bool]]:
    """The host's units, read once. A unit missing from it is not loaded: stopped, and
    not enabled (or not there at all yet)."""
    return _once(pyinfra_private.real(current_host), Units)


# -- files ------------------------------------------------------------------------------
PENDING_DIR = "/var/lib/stack/pending"  # an apply (reload, restart) that has not succeeded yet
_paths: dict[str, list[str]] = {}  # host -> the files our file operations manage there
_files: dict[str, dict] = {}  # host -> path -> state, all read at the first ask


def marker(dest: str) -> str:
    return f"{PENDING_DIR}/{hashlib.sha1(dest.encode()).hexdigest()}"


class FileStates(FactBase):
    """path -> its checksum, mode, owner and group (None when it is no regular file) and
    whether its pending-apply marker exists, for each of ``paths``, in one command."""

    def command(self, paths: tuple[str, ...]):
        # two lines per path whatever happens: "<mode> <user> <group> <sha1>" or "missing",
        # then "pending" or "none"
        return "; ".join(
            f"if [ -f {p} ] && s=$(stat -c '%a %U %G' {p}) && h=$(sha1sum < {p}); then echo \"$s ${{h%% *}}\";"
            f" else echo missing; fi; if [ -e {m} ]; then echo pending; else echo none; fi"
            for p, m in ((shlex.quote(path), shlex.quote(marker(path))) for path in paths))

    def process(self, output):
        lines = list(output)
        states = []
        for found, pending in zip(lines[::2], lines[1::2]):
            state = {"sha1": None, "mode": None, "user": None, "group": None, "pending": pending == "pending"}
            if found != "missing":
                mode, state["user"], state["group"], state["sha1"] = found.split()
                state["mode"] = int(mode, 8)
            states.append(state)
        return states


def manages(path: str):
    """Called while the deploy is prepared: ``path`` is one of the current host's files."""
    _paths.setdefault(current_host.name, []).append(path)


def file_state(path: str) -> dict:
    """``path``'s state on the current host, asked when its operation runs. While no
    operation of the run has changed anything, the host's files are as they were when
    the run began: the first ask reads all of them in one command, the others use it."""
    target = pyinfra_private.real(current_host)
    paths = _paths.get(target.name, [])
    if not context.current().changed and path in paths:
        known = _files.setdefault(target.name, {})
        if path not in known:  # without -y (--dry, --diff) pyinfra asks while still preparing
            unread = tuple(p for p in paths if p not in known)
            known.update(zip(unread, target.get_fact(FileStates, paths=unread)))
        return known[path]
    return target.get_fact(FileStates, paths=(path,))[0]
