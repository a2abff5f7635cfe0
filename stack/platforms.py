"""The support matrix: the OS releases CI runs end to end, and nothing else.

Every host runs Debian 13 (trixie) or 12 (bookworm), and the database is the
release's MariaDB (11.8 or 10.11): the day-2 flows are built on mariadb-backup,
mariadb-binlog and MariaDB's GTIDs. Anything else is refused when the host is
first reached, before any operation of the run is prepared, so 0 hosts change.
docs/platforms.md says why MySQL 8.0 on Ubuntu is not among them.
"""

from __future__ import annotations

import os
import shlex
import sys

from pyinfra.api import StringCommand
from pyinfra.api.state import BaseStateCallback

# (os-release ID, VERSION_ID) -> (name, codename, MariaDB series)
SUPPORTED = {
    ("debian", "13"): ("Debian 13", "trixie", "11.8"),
    ("debian", "12"): ("Debian 12", "bookworm", "10.11"),
}


def supported_text() -> str:
    return ", ".join(f"{name} ({codename})" for name, codename, _ in SUPPORTED.values())


def os_release(text: str) -> dict[str, str]:
    """/etc/os-release's fields (shell-quoted values, as os-release(5) has them)."""
    fields = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() and not key.startswith("#"):
            fields[key.strip()] = (shlex.split(value) or [""])[0]
    return fields


def problem(host_name: str, release: dict[str, str]) -> str | None:
    """Why ``host_name``, whose /etc/os-release says ``release``, is refused, if it is."""
    if (release.get("ID"), release.get("VERSION_ID")) in SUPPORTED:
        return None
    named = " ".join(filter(None, (release.get("ID"), release.get("VERSION_ID"))))
    runs = release.get("PRETTY_NAME") or named or "an OS without /etc/os-release"
    return f"{host_name} runs {runs}, which this deploy does not support; supported: {supported_text()}"


class PlatformCheck(BaseStateCallback):
    """Each host's OS read as it connects; an unsupported one ends the run before any
    operation is prepared on any host. Read through the connection itself: pyinfra's
    facts would connect again from inside this callback (the host is marked connected
    only after it) and wait on themselves."""

    @staticmethod
    def host_connect(state, host):
        ok, output = host.connector.run_shell_command(StringCommand("cat", "/etc/os-release"),
                                                      print_output=False, print_input=False)
        why = problem(host.name, os_release(output.stdout if ok else ""))
        if why:
            # As preflight does: one clear line, and no gevent traceback burying it.
            sys.stderr.write(f"preflight: {why}. No host was changed.\n")
            sys.stderr.flush()
            os._exit(1)
