"""Checks of a data value: each takes the value and raises Invalid with the reason it is wrong.

Each check's ``text`` says in a few words what it accepts: the check column of docs/keys.md.
"""

from __future__ import annotations

import ipaddress
import re
import zoneinfo
from urllib.parse import urlparse

from pyinfra.api.exceptions import PyinfraError


class Invalid(ValueError):
    pass


class Refused(PyinfraError, ValueError):
    """A flow that will not start, and why: pyinfra prints its one line, no traceback."""


def described(text):
    """Give a check its text."""
    def name(check):
        check.text = text
        return check
    return name


def matching(regex, what):
    @described(what)
    def check(v):
        if not isinstance(v, str) or not re.fullmatch(regex, v):
            raise Invalid(f"{v!r} is not {what}")
    return check


hostname = matching(r"[A-Za-z0-9][A-Za-z0-9.-]{0,252}", "a host name")
user_name = matching(r"[a-z_][a-z0-9_-]{0,31}", "a Unix user name")
identifier = matching(r"[A-Za-z_][A-Za-z0-9_]{0,31}", "a plain name (letters, digits, _)")
privilege = matching(r"[A-Z]+( [A-Z]+)*", "a privilege name like SELECT or LOCK TABLES")
size = matching(r"[1-9][0-9]*[KMG]", "a size like 256M or 1G")
fingerprint = matching(r"[0-9A-F]{40}", "a key fingerprint (40 upper-case hex digits, no spaces)")
email = matching(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}", "an email address")
redis_size = matching(r"[1-9][0-9]*(kb|mb|gb)", "a Redis size like 512mb or 2gb")
absolute_path = matching(r"/[A-Za-z0-9_./-]+", "an absolute path")
on_calendar = matching(r"[A-Za-z0-9 *:,./~-]{1,64}", "a systemd OnCalendar expression")
backup_reference = matching(r"latest|[0-9]{8}T[0-9]{6}Z", "'latest' or a backup id like 20261125T020000Z")


@described("a non-empty string")
def string(v):
    if not isinstance(v, str) or not v:
        raise Invalid(f"{v!r} is not a non-empty string")


@described("a TCP port (1-65535)")
def port(v):
    if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 65535:
        raise Invalid(f"{v!r} is not a TCP port (1-65535)")


@described("an IP address")
def ip_address(v):
    try:
        ipaddress.ip_address(v)
    except ValueError:
        raise Invalid(f"{v!r} is not an IP address") from None


@described("an address or CIDR network")
def network(v):
    try:
        ipaddress.ip_network(v, strict=False)
    except ValueError:
        raise Invalid(f"{v!r} is not an address or CIDR network") from None


@described("a tz database name (e.g. Etc/UTC, Asia/Shanghai)")
def timezone(v):
    if v not in zoneinfo.available_timezones():
        raise Invalid(f"{v!r} is not a tz database name (e.g. UTC, Asia/Shanghai)")


# What no URL, address or name in our data ever holds, and what a shell reads as syntax.
SHELL_SYNTAX = re.compile(r"""[\s'"`$\\;&|<>(){}*?!#]""")


@described("an http(s) URL, special characters percent-encoded")
def http_url(v):
    u = urlparse(v) if isinstance(v, str) else None
    if not u or u.scheme not in ("http", "https") or not u.hostname:
        raise Invalid(f"{v!r} is not an http(s) URL")
    if SHELL_SYNTAX.search(v):
        raise Invalid(f"{v!r} holds a space, quote or shell character; percent-encode it")


@described("true or false")
def boolean(v):
    if not isinstance(v, bool):
        raise Invalid(f"{v!r} is not true or false")


def integer(low, high):
    @described(f"a whole number from {low} to {high}")
    def check(v):
        if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
            raise Invalid(f"{v!r} is not a whole number from {low} to {high}")
    return check


@described('a mapping of COMMAND -> new name, or "" to disable it')
def redis_renames(v):
    if not isinstance(v, dict):
        raise Invalid(f"{v!r} is not a mapping of command -> new name")
    for command, new in v.items():
        if not re.fullmatch(r"[A-Z]+", str(command)) or not re.fullmatch(r"[A-Za-z0-9_]*", str(new)):
            raise Invalid(f"{command!r}: {new!r} is not COMMAND -> new name or \"\"")


def one_of(*choices):
    @described(f"one of {', '.join(map(str, choices))}")
    def check(v):
        if v not in choices:
            raise Invalid(f"{v!r} is not one of {', '.join(map(str, choices))}")
    return check


def optional(check):
    @described(f"{check.text}, or None")
    def wrapped(v):
        if v is not None:
            check(v)
    return wrapped


def list_of(check, non_empty=False):
    @described(f"a {'non-empty ' if non_empty else ''}list of: {check.text}")
    def wrapped(v):
        if not isinstance(v, list):
            raise Invalid(f"{v!r} is not a list")
        if non_empty and not v:
            raise Invalid("is empty")
        for item in v:
            check(item)
    return wrapped
