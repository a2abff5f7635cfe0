"""Host programs: each package of stack/hosttools is shipped as one zipapp, built on
the controller, and installed with its JSON config:

    install("stack-backup", config_name="stack-backup config", config_path="/etc/stack/backup.json",
            config={...})

puts /etc/stack (0700), /usr/local/sbin/stack-backup (0755, the zipapp of
stack/hosttools/stack_backup) and the config (0600, as a secret, unless
``secret=False``: then 0644) on the host, and returns the config's operation.

The zipapp is the same bytes from the same source on every clone and every run:
entries sorted, with a fixed date, mode and system, stored uncompressed (deflate's
output may differ between zlib versions). A converge that changed no module
uploads nothing.
"""

import io
import json
import zipfile
from pathlib import Path

from stack.configs import directories, file, secret_file

HOSTTOOLS = Path(__file__).parent / "hosttools"
SHEBANG = b"#!/usr/bin/python3\n"
STAMP = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip can hold: no build time in the bytes
# The zip's __main__ runs the package's own, as `python3 -m <package>` does.
MAIN = "import runpy\n\nrunpy.run_module({package!r}, run_name=\"__main__\", alter_sys=True)\n"


def build(package: Path) -> bytes:
    """The zipapp of ``package`` (a directory of modules): the package at the zip's
    root, a __main__ that runs it, and the hosts' python3 in its shebang."""
    entries = {f"{package.name}/{p.relative_to(package).as_posix()}": p.read_bytes()
               for p in package.rglob("*.py")}
    entries["__main__.py"] = MAIN.format(package=package.name).encode()
    out = io.BytesIO()
    out.write(SHEBANG)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, STAMP)
            info.create_system = 3  # Unix, whichever system builds it: the mode below is a Unix one
            info.external_attr = 0o100644 << 16
            z.writestr(info, entries[name])
    return out.getvalue()


def install(name: str, config_name: str, config_path: str, config: dict, secret: bool = True):
    """Program ``name`` (the package stack/hosttools/<name with _ for ->) and its
    config. Returns the config's operation: its did_change() says the program's
    host state may need applying again."""
    directories(("/etc/stack", "0700", "root", "root"), name="stack config directory")
    file(name=f"{name} program", content=build(HOSTTOOLS / name.replace("-", "_")),
         dest=f"/usr/local/sbin/{name}", mode="0755")
    content = json.dumps(config, indent=1, sort_keys=True)
    if secret:
        return secret_file(name=config_name, dest=config_path, content=content)
    return file(name=config_name, dest=config_path, content=content)
