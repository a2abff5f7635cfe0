"""apt packages, installed so that a run with nothing to install reports no change."""

from pyinfra import host
from pyinfra.facts.deb import DebPackages
from pyinfra.operations import apt


def present(name: str, packages: list[str]):
    """The package lists are refreshed only when a package is missing: pyinfra
    counts a refresh as a change, so apt's own ``cache_time`` alone would make
    every run an hour after the last one report a change on every host."""
    installed = host.get_fact(DebPackages)
    missing = [p for p in packages if p not in installed]
    return apt.packages(name=name, packages=packages, update=bool(missing), cache_time=3600,
                        no_recommends=True)
