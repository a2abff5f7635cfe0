"""Install a config file only after the program that reads it accepts it.

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

from pyinfra.api import deploy
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
