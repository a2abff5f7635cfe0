"""The docs (README.md and docs/*.md) point at things that exist.

A link that resolves to nothing, an anchor that names no heading, or a repository
path in backticks that was renamed or removed is a doc that lies to the next
engineer. These tests read the Markdown as text; nothing is rendered or fetched.

What counts as a repository path, kept simple on purpose: a backticked word whose
first path component is one of TOP_LEVEL (``tasks/redis.py``, ``stack/hosttools/``,
``deploy.py``). Ignored: host paths (``/etc/...``), placeholders and globs (anything
with ``*``, ``<`` or ``{``), and the module after ``python -m`` (``stack.preview``
is a module, not a path). Fenced code blocks are not read: they hold commands and
output, not references.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = [README, *sorted((ROOT / "docs").glob("*.md"))]
README_MAX_LINES = 250

# The repository's top-level entries: a backticked word starting with one of these is
# taken for a repository path.
TOP_LEVEL = {
    "tasks", "templates", "files", "group_data", "inventories", "migrations", "stack", "testbed", "tests",
    "bench", "docs", "deploy.py", "config.py", "quickstart", "requirements.txt", ".ci", ".github",
    "pyproject.toml",
}

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)


def prose(path: Path) -> list[tuple[int, str]]:
    """(line number, line) of a Markdown file, fenced code blocks left out."""
    out, fence = [], None
    for number, line in enumerate(path.read_text().splitlines(), 1):
        marker = re.match(r"^\s*(`{3,}|~{3,})", line)
        if marker:
            if fence is None:
                fence = marker.group(1)[0]
            elif marker.group(1)[0] == fence:
                fence = None
            continue
        if fence is None:
            out.append((number, line))
    return out


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: link text kept, lower case, punctuation dropped
    (letters, digits, '_', '-' and spaces stay), spaces turned into '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading's anchor in a Markdown file; a repeated one gets -1, -2, ..."""
    seen: dict[str, int] = {}
    out = set()
    for _, line in prose(path):
        m = HEADING.match(line)
        if not m:
            continue
        base = slug(m.group(2))
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def links(path: Path) -> list[tuple[int, str]]:
    """(line, target) of every relative link: no URLs, no code spans."""
    out = []
    for number, line in prose(path):
        for target in LINK.findall(CODE_SPAN.sub("", line)):
            if not SCHEME.match(target):
                out.append((number, target))
    return out


def named_paths(path: Path) -> list[tuple[int, str]]:
    """(line, path) of every repository path named in a code span (the rule above)."""
    out = []
    for number, line in prose(path):
        for _, span in CODE_SPAN.findall(line):
            words = span.split()
            for i, word in enumerate(words):
                if i >= 1 and words[i - 1] == "-m":  # python -m MODULE
                    continue
                word = word.strip("\"'(),;:").removeprefix("./")
                if not word or any(c in word for c in "*<{") or word.startswith("/"):
                    continue
                if word.split("/")[0] in TOP_LEVEL:
                    out.append((number, word))
    return out


def where(path: Path, number: int) -> str:
    return f"{path.relative_to(ROOT)}:{number}"


@pytest.mark.parametrize("heading, anchor", [
    ("Hosts, groups and ports", "hosts-groups-and-ports"),
    ("Rotate a secret or the CA", "rotate-a-secret-or-the-ca"),
    ("The binlog archive (point-in-time recovery)", "the-binlog-archive-point-in-time-recovery"),
    ("Preflight: before any host is touched", "preflight-before-any-host-is-touched"),
    ("`stack-app` and [its releases](app.md)", "stack-app-and-its-releases"),
    ("From 20 hosts to 2,000", "from-20-hosts-to-2000"),
])
def test_heading_anchors_follow_githubs_rules(heading, anchor):
    assert slug(heading) == anchor


def test_readme_stays_a_front_door():
    lines = len(README.read_text().splitlines())
    assert lines <= README_MAX_LINES, (
        f"README.md has {lines} lines (at most {README_MAX_LINES}): move the detail into a page under docs/")


def test_every_docs_page_is_linked_from_the_readme():
    linked = {(README.parent / target.split("#")[0]).resolve() for _, target in links(README)}
    orphans = [str(p.relative_to(ROOT)) for p in DOCS[1:] if p.resolve() not in linked]
    assert not orphans, f"docs pages the README's documentation table does not link: {orphans}"


def test_every_link_resolves():
    broken = []
    for doc in DOCS:
        for number, target in links(doc):
            file = target.split("#")[0]
            if file and not (doc.parent / file).exists():
                broken.append(f"{where(doc, number)}: {target}")
    assert not broken, "links to files that do not exist:\n  " + "\n  ".join(broken)


def test_every_anchor_names_a_heading():
    broken = []
    for doc in DOCS:
        for number, target in links(doc):
            if "#" not in target:
                continue
            file, anchor = target.split("#", 1)
            dest = (doc.parent / file) if file else doc
            if dest.suffix != ".md" or not dest.is_file():
                continue  # a missing file is test_every_link_resolves' to report
            if anchor not in anchors(dest):
                broken.append(f"{where(doc, number)}: {target} (headings of {dest.relative_to(ROOT)}: "
                              f"{', '.join(sorted(anchors(dest)))})")
    assert not broken, "links to headings that do not exist:\n  " + "\n  ".join(broken)


def test_every_named_repository_path_exists():
    missing = []
    for doc in DOCS:
        for number, name in named_paths(doc):
            target = ROOT / name
            if not (target.is_dir() if name.endswith("/") else target.exists()):
                missing.append(f"{where(doc, number)}: {name}")
    assert not missing, ("repository paths named in the docs that do not exist (renamed? removed?):\n  "
                         + "\n  ".join(missing))
