"""Files on the hosts: plain ones, configs checked before they go live, and files
holding secrets (never shown, never readable by others).

    file(dest, content, mode="0644")

puts content rendered or read on the controller (``render`` for templates) at
``dest``, with its owner and mode. Each of these operations reads the file with one
command (hostfacts.file_state: checksum, mode, owner, and the pending marker below),
and while nothing has changed on the hosts in a run, all of a host's files in one;
pyinfra's own file operations read the parent directory, the file and its checksum.

    checked_template(src, dest, check="sshd -t -f {path}", apply="systemctl reload ssh", ...)

renders the template on the controller and compares it with the live file. When
they differ (a new value, a hand edit, or a run that died half-way), it uploads
``dest.candidate``, checks it, installs it as ``dest`` and applies it, in one
operation. A file the program rejects never reaches ``dest``: the candidate is
removed, the service keeps running on the old file, and the run fails. The
check runs whenever the live file is about to change, whatever an earlier run
left behind.

An apply (reload/restart) that failed is not forgotten: a marker stays until it
has succeeded, so the next run applies again even though the file is in place.
"""

import hashlib
import posixpath
import shlex
from io import BytesIO

from pyinfra import host, inventory, state
from pyinfra.api import FactBase, FileUploadCommand, StringCommand, operation
from pyinfra.api.util import get_template

from stack import diffs, hostfacts
from stack.shell import argv

PENDING_DIR = hostfacts.PENDING_DIR
_marker = hostfacts.marker


def _registered(op):
    """``op`` (a file operation of ours), its ``dest`` registered when the deploy is
    prepared: hostfacts.file_state then reads all of a host's files in one command."""
    def call(*args, **kwargs):
        hostfacts.manages(kwargs["dest"])
        return op(*args, **kwargs)
    call.__doc__ = op.__doc__
    return call


def render(src: str, **data) -> str:
    """A template rendered on the controller, with pyinfra's usual context."""
    return get_template(src).render(host=host, state=state, inventory=inventory, **data)


def _owner_and_mode(dest: str, now: dict, mode: str, user: str, group: str):
    if now["mode"] != int(mode, 8):
        yield argv("chmod", mode, dest)
    if (now["user"], now["group"]) != (user, group):
        yield argv("chown", f"{user}:{group}", dest)


@_registered
@operation()
def file(dest: str, content: str | bytes, mode="0644", user="root", group="root"):
    """``content`` at ``dest`` (its directory made when missing), owner and mode kept
    right on every run."""
    data = content.encode() if isinstance(content, str) else content
    now = hostfacts.file_state(dest)
    if now["sha1"] == hashlib.sha1(data).hexdigest():
        host.noop(f"{dest} is up to date")
    else:
        diffs.show(dest, data)
        if now["sha1"] is None:
            yield argv("mkdir", "-p", posixpath.dirname(dest))
        # copied into the file by sudo: an existing file keeps its owner and mode
        yield FileUploadCommand(BytesIO(data), dest)
    yield from _owner_and_mode(dest, now, mode, user, group)


class DirectoryStates(FactBase):
    """path -> (mode, owner, group) for each of ``paths`` that is a directory, in one command."""

    default = dict  # none of them exists

    def command(self, paths: tuple[str, ...]):
        return "stat -L -c '%a %U %G %n' " + " ".join(shlex.quote(p) for p in paths) + " 2>/dev/null || true"

    def process(self, output):
        states = {}
        for line in output:
            mode, user, group, path = line.split(" ", 3)
            states[path] = (int(mode, 8), user, group)
        return states


@operation()
def directories(*specs: tuple[str, str, str, str]):
    """Directories ``(path, mode, user, group)``, made when missing, owner and mode kept
    right, read in one command (pyinfra's directory operation is one per path)."""
    now = host.get_fact(DirectoryStates, paths=tuple(p for p, *_ in specs))
    for path, mode, user, group in specs:
        if path not in now:
            yield argv("install", "-d", "-m", mode, "-o", user, "-g", group, path)
            continue
        current_mode, current_user, current_group = now[path]
        yield from _owner_and_mode(path, {"mode": current_mode, "user": current_user, "group": current_group},
                                   mode, user, group)


def read(path: str) -> str:
    """A file of the repository (or the controller), as text, for ``file``."""
    with open(path) as f:
        return f.read()


def _apply_pending(dest: str, apply: str):
    """The apply, bracketed by its marker: it stays if the apply fails."""
    yield StringCommand(argv("install", "-d", "-m", "0700", PENDING_DIR), "&&", argv("touch", _marker(dest)))
    yield StringCommand(apply)
    yield argv("rm", "-f", _marker(dest))


@_registered
@operation()
def checked_template(src: str, dest: str, check: str, apply: str, mode="0644", user="root", group="root",
                     **data):
    content = render(src, **data).encode()
    now = hostfacts.file_state(dest)
    pending = now["pending"]
    if now["sha1"] != hashlib.sha1(content).hexdigest():
        diffs.show(dest, content)
        candidate = f"{dest}.candidate"
        yield FileUploadCommand(BytesIO(content), candidate)
        q_candidate, q_dest = shlex.quote(candidate), shlex.quote(dest)
        yield StringCommand(
            f"{{ {check.format(path=q_candidate)} && install -m {shlex.quote(mode)} -o {shlex.quote(user)}"
            f" -g {shlex.quote(group)} {q_candidate} {q_dest} && rm -f {q_candidate}; }}"
            f" || {{ rm -f {q_candidate}; exit 1; }}")
        pending = True
    else:
        host.noop(f"{dest} is up to date")
        yield from _owner_and_mode(dest, now, mode, user, group)
    if pending:
        yield from _apply_pending(dest, apply)


@_registered
@operation()
def secret_file(dest: str, content: str, mode="0600", user="root", group="root", apply: str | None = None):
    """A file that holds secrets (render templates with ``render``): uploaded
    without ever being shown (under --diff its keys only, stack/diffs.py; no
    content in output or on a command line), into a file that has its final
    owner and mode before it has content.

    Under sudo pyinfra uploads through a temporary file first; it is put in a
    0700 directory of the SSH user, so nobody else can read it there either.

    ``apply`` (say, a restart) runs in the same operation when the content
    changed, and again on later runs until it has succeeded.
    """
    data = content.encode()
    now = hostfacts.file_state(dest)
    pending = bool(apply) and now["pending"]
    if now["sha1"] == hashlib.sha1(data).hexdigest():
        host.noop(f"{dest} is up to date")
    else:
        diffs.show(dest, data, secret=True)
        pending = bool(apply)
        if now["sha1"] is None:
            yield argv("install", "-m", mode, "-o", user, "-g", group, "/dev/null", dest)
            now = {**now, "mode": int(mode, 8), "user": user, "group": group}
        ssh_user = host.data.ssh_user
        account = hostfacts.passwd(ssh_user)
        if not account:
            raise ValueError(f"{host.name}: ssh_user {ssh_user!r} does not exist on the host")
        private_dir = f"{account['home']}/.cache/stack-upload"
        yield argv("install", "-d", "-m", "0700", "-o", ssh_user, private_dir)
        temp = f"{private_dir}/{hashlib.sha1(dest.encode()).hexdigest()}"
        yield FileUploadCommand(BytesIO(data), dest, remote_temp_filename=temp)
    # Owner and mode are kept right on every run, content or not.
    yield from _owner_and_mode(dest, now, mode, user, group)
    if pending:
        yield from _apply_pending(dest, apply)
