"""The app artifact, built once on the controller: source, migrations and a
wheelhouse of the pinned requirements for the hosts' Python and platform.
Hosts install it with pip --no-index, so they never reach PyPI.

The release id is ``<UTC timestamp>-<content hash>``: sortable, and the same
content always maps to the release already built, so an unchanged app is no
change on the hosts.
"""

from __future__ import annotations

import datetime
import hashlib
import io
import subprocess
import sys
import tarfile
import threading
from pathlib import Path

from stack import context

REPO_ROOT = Path(__file__).resolve().parent.parent

BUILD_DIR = REPO_ROOT / ".build"
# pyinfra prepares all hosts at once (gevent-patched threads): one build at a time.
_build_lock = threading.Lock()


def content_hash(source: Path, migrations: Path) -> str:
    h = hashlib.sha256()
    for root in (source, migrations):
        for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:12]


def platforms(arch: str, glibc: str) -> list[str]:
    """Every manylinux tag a host with this glibc runs (pip does not infer the older ones)."""
    minor = int(glibc.split(".")[1])
    return [f"manylinux_2_{m}_{arch}" for m in range(minor, 16, -1)] + [f"manylinux2014_{arch}"]


def wheelhouse(requirements: Path, python_version: str, arch: str, glibc: str) -> Path:
    """pip download for the target interpreter; cached by requirements and target.

    pip judges markers by the controller's Python, not the target's, so the lock is
    downloaded line by line with markers dropped (--no-deps); the host's pip then
    installs what its own Python needs."""
    target = f"{python_version}-{arch}-{glibc}".encode()
    key = hashlib.sha256(requirements.read_bytes() + target).hexdigest()[:12]
    out = BUILD_DIR / f"wheelhouse-{key}"
    if not out.exists():
        partial = out.with_suffix(".partial")
        pins = [line.split(";")[0].strip() for line in requirements.read_text().splitlines()
                if line.split("#")[0].strip()]
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
             "--no-deps", "--only-binary=:all:", "--python-version", python_version, "--implementation", "cp",
             *(arg for tag in platforms(arch, glibc) for arg in ("--platform", tag)),
             "-d", str(partial), *pins],
            check=True,
        )
        partial.rename(out)
    return out


def build(source: Path, migrations: Path, python_version: str, arch: str, glibc: str,
          known_releases: list[str]) -> tuple[str, Path]:
    """(release id, artifact path). Reuses the id a host already has for this content."""
    with _build_lock:
        release, path = _build(source, migrations, python_version, arch, glibc, known_releases)
        context.current().release = release  # what the run deploys, for its record
        return release, path


def _build(source, migrations, python_version, arch, glibc, known_releases):
    digest = content_hash(source, migrations)
    for rid in known_releases:
        if rid.endswith("-" + digest):
            release_id = rid
            break
    else:
        cached = sorted(BUILD_DIR.glob(f"*-{digest}--*.tar.gz"))  # built for any target: same release
        release_id = (cached[-1].name.split("--")[0] if cached else
                      datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d%H%M%S") + "-" + digest)
    # One release, one artifact per target: its wheels are for the host's Python, CPU and glibc
    # (a fleet half on Debian 12 and half on 13 runs Python 3.11 and 3.13).
    artifact = BUILD_DIR / f"{release_id}--py{python_version}-{arch}-glibc{glibc}.tar.gz"
    if not artifact.exists():
        BUILD_DIR.mkdir(exist_ok=True)
        wheels = wheelhouse(source / "requirements.txt", python_version, arch, glibc)
        partial = artifact.with_suffix(".partial")
        with tarfile.open(partial, "w:gz") as tar:
            tar.add(source, arcname="app", filter=_no_cache)
            tar.add(migrations, arcname="migrations", filter=_no_cache)
            tar.add(wheels, arcname="wheelhouse")
            tar.add(source / "requirements.txt", arcname="requirements.txt")
            info = tarfile.TarInfo("RELEASE")
            data = (release_id + "\n").encode()
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        partial.rename(artifact)
    return release_id, artifact


def _no_cache(info: tarfile.TarInfo):
    return None if "__pycache__" in info.name else info
