"""Vulnerability scan (seeds 000 and 002): `pyinfra inventories/staging.py tasks/scan.py`;
scan.yml runs it weekly on staging.

On every host: the package lists refreshed, then the updates Debian's security archive
has that are not installed (each a published vulnerability the host still has:
unattended-upgrades should have taken it), and Lynis's audit (its hardening index and
warnings). One line per host; the run fails on a host past scan_security_updates_max
or below scan_lynis_min_index. Changes nothing but apt's lists and Lynis's own files.
"""

from pyinfra import host, logger
from pyinfra.operations import apt

from stack import packages, scan
from stack.checks import Refused
from stack.shell import call, run_on

packages.present("Lynis", ["lynis"])
apt.update(name="Package lists fresh (the security archive's fixes)")


def run(*args) -> str:  # their output is long and read here, not shown
    return run_on(host, *args, what=f"{host.name}: {args[0]} failed", shown=False)


def audit():
    updates = scan.security_updates(run("apt-get", "-s", "-o", "Debug::NoLocking=1", "dist-upgrade"))
    run("lynis", "audit", "system", "--quick", "--no-colors", "--cronjob", "--report-file", scan.REPORT)
    index, warnings = scan.lynis_report(run("cat", scan.REPORT))
    line, failed = scan.verdict(host.name, updates, index, warnings, host.data)
    logger.info(f"--> scan: {line}")
    if failed:
        raise Refused(f"scan: {line}")


call(name="Security updates pending and Lynis's audit", function=audit)
