"""Config files installed safely: checked before they go live, or (for files
holding secrets) never shown and never readable by others.

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
import shlex
from io import BytesIO

from pyinfra import host, inventory, state
from pyinfra.api import FileUploadCommand, StringCommand, operation
from pyinfra.api.util import get_template
from pyinfra.facts.files import File, Sha1File
from pyinfra.facts.server import Users
from pyinfra.operations import files

from stack.shell import argv

PENDING_DIR = "/var/lib/stack/pending"


def render(src: str, **data) -> str:
    """A template rendered on the controller, with pyinfra's usual context."""
    return get_template(src).render(host=host, state=state, inventory=inventory, **data)


def _marker(dest: str) -> str:
    return f"{PENDING_DIR}/{hashlib.sha1(dest.encode()).hexdigest()}"


def _apply_pending(dest: str, apply: str):
    """The apply, bracketed by its marker: it stays if the apply fails."""
    yield StringCommand(argv("install", "-d", "-m", "0700", PENDING_DIR), "&&", argv("touch", _marker(dest)))
    yield StringCommand(apply)
    yield argv("rm", "-f", _marker(dest))


@operation()
def checked_template(src: str, dest: str, check: str, apply: str, mode="0644", user="root", group="root",
                     **data):
    content = render(src, **data).encode()
    pending = host.get_fact(File, path=_marker(dest))
    if host.get_fact(Sha1File, path=dest) != hashlib.sha1(content).hexdigest():
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
        yield from files.file._inner(path=dest, mode=mode, user=user, group=group)
    if pending:
        yield from _apply_pending(dest, apply)


@operation()
def secret_file(dest: str, content: str, mode="0600", user="root", group="root", apply: str | None = None):
    """A file that holds secrets (render templates with ``render``): uploaded
    without ever being shown (no diff, no content in output or on a command
    line), into a file that has its final owner and mode before it has content.

    Under sudo pyinfra uploads through a temporary file first; it is put in a
    0700 directory of the SSH user, so nobody else can read it there either.

    ``apply`` (say, a restart) runs in the same operation when the content
    changed, and again on later runs until it has succeeded.
    """
    data = content.encode()
    pending = bool(apply) and host.get_fact(File, path=_marker(dest))
    if host.get_fact(Sha1File, path=dest) == hashlib.sha1(data).hexdigest():
        host.noop(f"{dest} is up to date")
    else:
        pending = bool(apply)
        if not host.get_fact(File, path=dest):
            yield argv("install", "-m", mode, "-o", user, "-g", group, "/dev/null", dest)
        ssh_user = host.data.ssh_user
        users = host.get_fact(Users)
        if ssh_user not in users:
            raise ValueError(f"{host.name}: ssh_user {ssh_user!r} does not exist on the host")
        private_dir = f"{users[ssh_user]['home']}/.cache/stack-upload"
        yield argv("install", "-d", "-m", "0700", "-o", ssh_user, private_dir)
        temp = f"{private_dir}/{hashlib.sha1(dest.encode()).hexdigest()}"
        yield FileUploadCommand(BytesIO(data), dest, remote_temp_filename=temp)
    # Owner and mode are kept right on every run, content or not.
    yield from files.file._inner(path=dest, mode=mode, user=user, group=group)
    if pending:
        yield from _apply_pending(dest, apply)
