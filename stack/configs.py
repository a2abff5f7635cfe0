"""Config files installed safely: checked before they go live, or (for files
holding secrets) never shown and never readable by others.

Install a config file only after the program that reads it accepts it:

    checked_template(src, dest, check="sshd -t -f {path}", ...)

1. render to ``dest.candidate``;
2. when the candidate changed, run ``check`` on it; on failure remove the
   candidate (so the next run checks again) and fail this host's run;
3. render to ``dest`` with the real owner and mode. After a passing check this
   writes exactly the checked content, and it also repairs drift in ``dest``.

A broken value in data therefore never reaches the live file, and the service
keeps running on the old one. Returns the step-3 operation: reload or restart
``_if=op.did_change``.
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
def checked_template(src: str, dest: str, check: str, mode="0644", user="root", group="root", **data):
    candidate = f"{dest}.candidate"
    rendered = files.template(
        name=f"Render candidate {dest}", src=src, dest=candidate, mode="0600", **data
    )
    server.shell(
        name=f"Check {dest}",
        commands=[f"{check.format(path=candidate)} || {{ rm -f {candidate}; exit 1; }}"],
        _if=rendered.did_change,
    )
    return files.template(
        name=f"Install {dest}", src=src, dest=dest, mode=mode, user=user, group=group, **data
    )


def render(src: str, **data) -> str:
    """A template rendered on the controller, with pyinfra's usual context."""
    return get_template(src).render(host=host, inventory=inventory, **data)


@operation()
def secret_file(dest: str, content: str, mode="0600", user="root", group="root"):
    """A file that holds secrets (render templates with ``render``): uploaded
    without ever being shown (no diff, no content in output or on a command
    line), into a file that has its final owner and mode before it has content.

    Under sudo pyinfra uploads through a temporary file first; it is put in a
    0700 directory of the SSH user, so nobody else can read it there either.
    """
    data = content.encode()
    if host.get_fact(Sha1File, path=dest) == hashlib.sha1(data).hexdigest():
        host.noop(f"{dest} is up to date")
    else:
        if not host.get_fact(File, path=dest):
            yield StringCommand("install", "-m", mode, "-o", user, "-g", group, "/dev/null", dest)
        ssh_user = host.data.get("ssh_user") or "root"
        private_dir = f"{host.get_fact(Users)[ssh_user]['home']}/.cache/stack-upload"
        yield StringCommand("install", "-d", "-m", "0700", "-o", ssh_user, private_dir)
        temp = f"{private_dir}/{hashlib.sha1(dest.encode()).hexdigest()}"
        yield FileUploadCommand(BytesIO(data), dest, remote_temp_filename=temp)
    # Owner and mode are kept right on every run, content or not.
    yield from files.file._inner(path=dest, mode=mode, user=user, group=group)
