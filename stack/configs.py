"""Config files installed safely: checked before they go live, or (for files
holding secrets) never shown and never readable by others.

    checked_template(src, dest, check="sshd -t -f {path}", apply="systemctl reload ssh", ...)

1. render to ``dest.candidate``;
2. when the candidate changed: check it, install it as ``dest`` and apply it
   (reload/restart) in one step. If any part fails the candidate is removed,
   so the next run renders, checks, installs and applies again: a failure can
   never leave a new file in place that nothing will ever apply;
3. render ``dest`` itself: after step 2 this is no change, but it repairs a
   file edited by hand, and applies the repair.

A value the program rejects never reaches the live file, and the service keeps
running on the old one.
"""

import hashlib
from io import BytesIO

from pyinfra import host, inventory
from pyinfra.api import FileUploadCommand, StringCommand, deploy, operation
from pyinfra.api.util import get_template
from pyinfra.facts.files import File, Sha1File
from pyinfra.facts.server import Users
from pyinfra.operations import files, server


@deploy("Checked config")
def checked_template(src: str, dest: str, check: str, apply: str, mode="0644", user="root", group="root",
                     **data):
    candidate = f"{dest}.candidate"
    rendered = files.template(
        name=f"Render candidate {dest}", src=src, dest=candidate, mode="0600", **data
    )
    server.shell(
        name=f"Check, install and apply {dest}",
        commands=[f"{{ {check.format(path=candidate)} && install -m {mode} -o {user} -g {group} {candidate} {dest}"
                  f" && {apply}; }} || {{ rm -f {candidate}; exit 1; }}"],
        _if=rendered.did_change,
    )
    repaired = files.template(
        name=f"Live {dest} as rendered", src=src, dest=dest, mode=mode, user=user, group=group, **data
    )
    server.shell(name=f"Apply repaired {dest}", commands=[apply], _if=repaired.did_change)


def render(src: str, **data) -> str:
    """A template rendered on the controller, with pyinfra's usual context."""
    return get_template(src).render(host=host, inventory=inventory, **data)


PENDING_DIR = "/var/lib/stack/pending"


@operation()
def secret_file(dest: str, content: str, mode="0600", user="root", group="root", apply: str | None = None):
    """A file that holds secrets (render templates with ``render``): uploaded
    without ever being shown (no diff, no content in output or on a command
    line), into a file that has its final owner and mode before it has content.

    Under sudo pyinfra uploads through a temporary file first; it is put in a
    0700 directory of the SSH user, so nobody else can read it there either.

    ``apply`` (say, a restart) runs in the same operation when the content
    changed. Until it has succeeded a marker stays behind, so a run that failed
    in between applies it next time instead of forgetting it.
    """
    data = content.encode()
    marker = f"{PENDING_DIR}/{hashlib.sha1(dest.encode()).hexdigest()}"
    pending = bool(apply) and host.get_fact(File, path=marker)
    if host.get_fact(Sha1File, path=dest) == hashlib.sha1(data).hexdigest():
        host.noop(f"{dest} is up to date")
    else:
        pending = bool(apply)
        if not host.get_fact(File, path=dest):
            yield StringCommand("install", "-m", mode, "-o", user, "-g", group, "/dev/null", dest)
        ssh_user = host.data.get("ssh_user") or "root"
        private_dir = f"{host.get_fact(Users)[ssh_user]['home']}/.cache/stack-upload"
        yield StringCommand("install", "-d", "-m", "0700", "-o", ssh_user, private_dir)
        temp = f"{private_dir}/{hashlib.sha1(dest.encode()).hexdigest()}"
        yield FileUploadCommand(BytesIO(data), dest, remote_temp_filename=temp)
    # Owner and mode are kept right on every run, content or not.
    yield from files.file._inner(path=dest, mode=mode, user=user, group=group)
    if pending:
        yield StringCommand("install", "-d", "-m", "0700", PENDING_DIR, "&&", "touch", marker)
        yield StringCommand(apply)
        yield StringCommand("rm", "-f", marker)
