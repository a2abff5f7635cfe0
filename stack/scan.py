"""What tasks/scan.py reads on each host, and when it fails (seeds 000 and 002: a
weekly vulnerability scan).

    security_updates(apt_simulation) -> packages Debian's security archive has a fix for, not installed
    lynis_report(report_dat) -> (hardening index, warnings)
    verdict(host, updates, index, warnings, data) -> (line, failed)
"""

from __future__ import annotations

import re

REPORT = "/var/log/lynis-report.dat"


def security_updates(simulation: str) -> list[str]:
    """The packages `apt-get -s dist-upgrade` would take from a security suite: each a
    published vulnerability this host still has."""
    return sorted({m[1] for m in re.finditer(r"^Inst (\S+) [^\n]*\([^)\n]*-security\b", simulation, re.M)})


def lynis_report(text: str) -> tuple[int | None, list[str]]:
    """Lynis's report file (/var/log/lynis-report.dat): its hardening index and each warning."""
    index = re.search(r"^hardening_index=(\d+)$", text, re.M)
    warnings = [w.split("|")[0] + ": " + w.split("|")[1] if "|" in w else w
                for w in re.findall(r"^warning\[\]=(.*)$", text, re.M)]
    return (int(index[1]) if index else None), warnings


def verdict(host: str, updates: list[str], index: int | None, warnings: list[str], data) -> tuple[str, bool]:
    """One line for the host, and whether it is past a threshold."""
    failed = len(updates) > data.scan_security_updates_max or index is None or index < data.scan_lynis_min_index
    line = (f"{host}: {len(updates)} security update(s) pending{' (' + ', '.join(updates) + ')' if updates else ''} "
            f"(at most {data.scan_security_updates_max}); Lynis hardening index "
            f"{'unknown' if index is None else index} (at least {data.scan_lynis_min_index}), "
            f"{len(warnings)} warning(s){': ' + '; '.join(warnings) if warnings else ''}")
    return line, failed
