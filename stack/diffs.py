"""`--diff` for every file the deploy renders or uploads (stack/configs.py), in
pyinfra's unified-diff form, as its own files.put shows it: what the host has
against what the run would put there. Read only under --diff, and only for a
file that is about to change.

A file that holds secrets is shown line by line, each line that holds a secret
(any value the controller knows as one) or whose key names one (password, token,
auth, hash...) with its key kept and its value hidden (`"password": <secret>`,
`DATABASE_PASSWORD=<secret>`): a review sees `maxmemory 300mb`, and that a password
changes, never what to. A file with no key on any line (a token) or a PEM key says
only that it changed.
"""

from __future__ import annotations

import difflib
import re

from pyinfra import host, logger, state
from pyinfra.api.output import format_text
from pyinfra.facts.files import FileContents

from stack import context, secrets

# A setting's key and its separator: `key = `, `key: `, `KEY=`, `"key": `, `key value`.
KEY = re.compile(r'^(\s*(?:"[^"]+"|[A-Za-z_][\w.-]*)(?:\s*[=:]\s*|\s+))\S')
SECRET = "<secret>"
PEM_CERTIFICATE = "-----BEGIN CERTIFICATE-----"


def secret_only(lines: list[str]) -> bool:
    """Key material (PEM: its base64 lines may look like `abc==`), or no key on any line."""
    return any(line.startswith("-----BEGIN") for line in lines) or not any(KEY.match(line) for line in lines)


# Keys whose values are secrets, or stand for one (a password's hash), whatever they hold.
SENSITIVE = re.compile(r"pass|secret|token|auth|hash|key|credential|identity", re.IGNORECASE)


def redact(line: str, secrets: list[str] = ()) -> str:
    """A line of a secret-bearing file: as it is, unless its key is a secret's or it
    holds a secret's value; then its key and <secret>."""
    found = KEY.match(line)
    if not (found and SENSITIVE.search(found.group(1))) and not any(v in line for v in secrets):
        return line
    return found.group(1) + SECRET if found else SECRET


def unified(current: list[str], desired: list[str], secrets: list[str] | None = None) -> list[str]:
    """The diff's lines, two lines of context; with ``secrets`` (a secret-bearing file:
    the values to hide), each line redacted."""
    shown = (lambda line: redact(line, secrets)) if secrets is not None else (lambda line: line)
    out = []
    for group in difflib.SequenceMatcher(None, current, desired).get_grouped_opcodes(2):
        (_, i1, _, j1, _), (_, _, i2, _, j2) = group[0], group[-1]
        out.append(f"@@ -{i1 + 1},{i2 - i1} +{j1 + 1},{j2 - j1} @@")
        for tag, a1, a2, b1, b2 in group:
            if tag == "equal":
                out += ["  " + shown(line) for line in current[a1:a2]]
                continue
            out += ["- " + shown(line) for line in current[a1:a2]]
            out += ["+ " + shown(line) for line in desired[b1:b2]]
    return out


def certificate(lines: list[str]) -> bool:
    """A PEM certificate: base64 nobody reviews, and one issued in this run differs on
    every run (its serial). Shown as one stable line, so a reviewed plan's hash
    (stack.preview) still holds at the apply."""
    return any(line.startswith(PEM_CERTIFICATE) for line in lines)


def coloured(line: str) -> str:
    return format_text(line, {"-": "red", "+": "green"}[line[0]]) if line[:1] in "-+" else line


def show(dest: str, content: bytes, secret: bool = False):
    """Under --diff: how ``dest`` on the current host would change to ``content``."""
    if not state.config.DIFF:
        return
    current = host.get_fact(FileContents, path=dest)
    desired = content.decode(errors="replace").splitlines()
    if secret and secret_only(desired + list(current or [])):
        host.log(f"Will change {format_text(dest, bold=True)} (secret: not shown)", logger.info)
        context.current().diffs.append((host.name, dest, ["changed (secret: not shown)"]))
        return
    if certificate(desired):
        host.log(f"Will {'create' if current is None else 'change'} {format_text(dest, bold=True)} "
                 "(a certificate)", logger.info)
        context.current().diffs.append((host.name, dest, ["changed (a certificate)"]))
        return
    host.log(f"Will {'create' if current is None else 'modify'} {format_text(dest, bold=True)}", logger.info)
    lines = unified([line.rstrip("\n") for line in current or []], desired,
                    secrets.known_values(host) if secret else None)
    for line in lines:
        logger.info("  %s", coloured(line))
    logger.info("")
    context.current().diffs.append((host.name, dest, lines))  # for stack.preview's summary
