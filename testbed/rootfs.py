"""The cached Debian rootfs every testbed host overlays, one per release, built once
by debootstrap from the mirror this machine's own apt configuration names."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from testbed.machine import TestbedError, log, run

CACHE_DIR = Path(os.environ.get("TESTBED_CACHE_DIR", "/var/cache/stack-testbed"))
# The Debian releases a testbed boots (codename -> version): the support matrix's
# (docs/platforms.md). The first is the default.
RELEASES = {"trixie": "13", "bookworm": "12"}
DEFAULT_RELEASE = next(iter(RELEASES))
BASE_PACKAGES = "systemd,systemd-sysv,dbus,openssh-server,python3,iproute2,sudo,ca-certificates"
# Bump the suffix when what the rootfs holds changes, so old caches are not reused.
BASE_VERSION = "v3"
# The user the deploy connects as, exactly as in production: key-only login
# (the key is added per host) and passwordless sudo. Root has no SSH key.
DEPLOY_USER = "deploy"


def apt_mirror(sources_dir: Path = Path("/etc/apt"), suite: str = DEFAULT_RELEASE) -> str:
    """The Debian mirror the controller itself uses for ``suite``, read from its apt
    config. A mirror that serves one release serves the others: a controller on
    bookworm gives its own archive for trixie too (and its security archive for
    trixie-security).

    The repository never names a mirror: whatever this machine is set up with is
    what the test hosts use too.
    """
    entries: list[tuple[str, list[str]]] = []  # (URI, suites) in the order apt reads them
    legacy = sources_dir / "sources.list"
    if legacy.exists():
        for line in legacy.read_text().splitlines():
            m = re.match(r"\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)", line)
            if m:
                entries.append((m.group(1), [m.group(2)]))
    for path in sorted((sources_dir / "sources.list.d").glob("*.sources")):
        for stanza in path.read_text().split("\n\n"):
            fields = {}
            for line in stanza.splitlines():
                key, _, value = line.partition(":")
                if not line.startswith("#") and value:
                    fields[key.strip()] = value.strip()
            if "deb" in fields.get("Types", "").split() and "URIs" in fields:
                entries.append((fields["URIs"].split()[0], fields.get("Suites", "").split()))
    for uri, suites in entries:
        if suite in suites:  # the main archive has SUITE, the security archive only SUITE-security
            return uri
    kind = suite.partition("-")[2]  # "" for the main archive, "security", "updates"
    for uri, suites in entries:
        if any(s.partition("-")[0] in RELEASES and s.partition("-")[2] == kind for s in suites):
            return uri
    raise TestbedError(f"no Debian mirror for {suite} found in {sources_dir}/sources.list(.d)")


def ensure_base_rootfs(release: str = DEFAULT_RELEASE) -> Path:
    """The cached rootfs of ``release``; built once."""
    if release not in RELEASES:
        raise TestbedError(f"unknown release {release!r}: the testbed boots {', '.join(RELEASES)}")
    name = f"{release}-base-{BASE_VERSION}"
    base = CACHE_DIR / name
    if base.exists():
        return base
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    partial = CACHE_DIR / (name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)  # a killed build leaves this behind
    mirror = apt_mirror(suite=release)
    log(f"building the {release} base rootfs with debootstrap from {mirror} (about a minute, cached)")
    run("debootstrap", "--variant=minbase", f"--include={BASE_PACKAGES}", release, str(partial), mirror)
    # Per-host identity is made at boot time, never shared through the cache.
    for key in (partial / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    (partial / "etc/machine-id").write_text("")
    patch(partial, release)
    run("chroot", str(partial), "useradd", "--create-home", "--shell", "/bin/bash", DEPLOY_USER)
    sudoers = partial / "etc/sudoers.d" / DEPLOY_USER
    sudoers.write_text(f"{DEPLOY_USER} ALL=(ALL:ALL) NOPASSWD: ALL\n")
    sudoers.chmod(0o440)
    partial.rename(base)
    return base


def patch(root: Path, release: str):
    """The security updates applied, as on any installed Debian, then the security suite
    taken out of the sources again: adding it from the host's own mirror is the
    deploy's job (tasks/base.py), and that path must run on the testbed too."""
    try:
        security = apt_mirror(suite=f"{release}-security")
    except TestbedError:
        log("no security mirror in this machine's apt config: the base rootfs is not patched")
        return
    extra = root / "etc/apt/sources.list.d/build-security.list"
    extra.write_text(f"deb {security} {release}-security main\n")
    try:
        run("chroot", str(root), "apt-get", "update", "-qq")
        run("chroot", str(root), "env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "upgrade", "-y", "-qq")
    finally:
        extra.unlink()
    run("chroot", str(root), "apt-get", "update", "-qq")  # the lists as the sources say again
    run("chroot", str(root), "apt-get", "clean")


def user_ids(root: Path, user: str) -> tuple[int, int]:
    """(uid, gid) of a user of the rootfs at ``root``, from its own /etc/passwd."""
    for line in (root / "etc/passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == user:
            return int(fields[2]), int(fields[3])
    raise TestbedError(f"no user {user} in {root}/etc/passwd (stale rootfs cache?)")
