"""apt packages, installed so that a run with nothing to install reports no change."""

from pyinfra import host
from pyinfra.api import operation
from pyinfra.operations import apt

from stack import hostfacts


def present(name: str, packages: list[str]):
    """Installs what is missing. The host's packages are listed once per run (at
    prepare time, before anything is installed), not by each apt operation: a
    listing is the largest fact a host sends. With nothing missing there is no apt
    operation at all. The package lists are refreshed only when a package is
    missing: pyinfra counts a refresh as a change, so apt's own ``cache_time``
    alone would make every run an hour after the last one report a change."""
    missing = [p for p in packages if p not in hostfacts.installed_packages()]
    if not missing:
        return installed(name=name, packages=packages)
    return apt.packages(name=name, packages=packages, update=True, cache_time=3600, no_recommends=True)


@operation()
def installed(packages: list[str]):
    """Nothing to do: the packages were there when the run began."""
    host.noop(f"{', '.join(packages)} installed")
    yield from ()


def update_suites(repos, codename: str) -> list[dict]:
    """The ``<codename>-updates`` and ``-security`` suites the host's apt sources lack,
    at the host's own mirror: security in ``<mirror>/debian-security`` beside a
    ``.../debian`` archive, else (a mirror laid out otherwise) on the same URL. Nothing
    when the sources name no mirror for the release."""
    own = [r for r in repos if r["type"] == "deb" and r["distribution"] == codename]
    if not codename or not own:
        return []
    have = {r["distribution"] for r in repos}
    url, components = own[0]["url"].rstrip("/"), own[0]["components"]
    security = url + "-security" if url.endswith("/debian") else url
    return [{"uri": uri, "suite": f"{codename}-{kind}", "components": components}
            for kind, uri in (("updates", url), ("security", security)) if f"{codename}-{kind}" not in have]


def sources_list(suites: list[dict]) -> str:
    """apt's one-line sources for these suites (the format scanners such as lynis read)."""
    return "# Managed by pyinfra (tasks/base.py): the suites this host's own sources lacked.\n" + "".join(
        f"deb {s['uri']} {s['suite']} {' '.join(s['components'])}\n" for s in suites)
