"""Packages from a vendor's signed apt repository (InfluxData, Grafana).

    vendor.apt_repository(repo="grafana", title="Grafana", prefix="grafana")

reads the data keys <prefix>_apt_url, _apt_suite, _apt_components, _apt_key_url
and _apt_key_fingerprint.

The signing key is downloaded on the host, and goes into /etc/apt/keyrings only
if it holds the fingerprint pinned in data. The deb822 source names both the
keyring and the fingerprint in Signed-By, so apt itself refuses anything else.
Never apt-key. An unreachable repository fails the run at the download.
"""

import shlex

from pyinfra import host
from pyinfra.api import deploy
from pyinfra.operations import apt, files, server

from stack import configs, packages

KEYRINGS = "/etc/apt/keyrings"
TEMPLATE = "templates/vendor/apt.sources.j2"


def context(name, title, url, suite, components, fingerprint) -> dict:
    """What the source template is rendered with."""
    return dict(title=title, url=url, suite=suite, components=components, keyring=f"{KEYRINGS}/{name}.asc",
                fingerprint=fingerprint)


@deploy("Vendor apt repository")
def apt_repository(repo: str, title: str, prefix: str):
    url, suite, components, key_url, fingerprint = (
        host.data.get(f"{prefix}_apt_{key}") for key in ("url", "suite", "components", "key_url", "key_fingerprint"))
    keyring, download = f"{KEYRINGS}/{repo}.asc", f"{KEYRINGS}/{repo}.asc.download"
    packages.present("gpg (checks signing keys)", ["gpg"])
    files.directory(name="apt keyrings directory", path=KEYRINGS, mode="0755")
    key = files.download(name=f"{title}: signing key", src=key_url, dest=download, mode="0644")
    server.shell(
        name=f"{title}: key must have fingerprint {fingerprint}",
        # Every data value is quoted: a URL may hold any character the shell reads.
        commands=[f"gpg --batch --show-keys --with-colons {shlex.quote(download)}"
                  f" | grep -q {shlex.quote(f'^fpr:*:{fingerprint}:')}"
                  f" && install -m 0644 {shlex.quote(download)} {shlex.quote(keyring)}"
                  f" || {{ rm -f {shlex.quote(download)};"
                  f" echo {shlex.quote(f'{key_url} does not hold key {fingerprint}')} >&2; exit 1; }}"],
        _if=key.did_change,
    )
    listed = configs.file(name=f"{title}: apt source", dest=f"/etc/apt/sources.list.d/{repo}.sources",
                          content=configs.render(TEMPLATE, **context(repo, title, url, suite, components, fingerprint)))
    apt.update(name=f"{title}: package lists", _if=listed.did_change)
