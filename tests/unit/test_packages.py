"""stack/packages.py: the -updates and -security suites are added from the host's own
sources, only where they are missing."""

from stack import packages


def repo(url, suite, components=("main",)):
    return {"type": "deb", "url": url, "distribution": suite, "components": list(components)}


def test_debian_gets_both_suites_at_its_own_mirror():
    added = packages.update_suites([repo("http://mirror.internal/debian/", "bookworm", ["main", "contrib"])],
                                   "bookworm")
    assert packages.sources_list(added).splitlines()[1:] == [
        "deb http://mirror.internal/debian bookworm-updates main contrib",
        "deb http://mirror.internal/debian-security bookworm-security main contrib"]


def test_a_mirror_not_laid_out_as_debian_keeps_security_on_the_same_url():
    added = packages.update_suites([repo("http://mirror.internal/trixie", "trixie")], "trixie")
    assert [(s["uri"], s["suite"]) for s in added] == [("http://mirror.internal/trixie", "trixie-updates"),
                                                       ("http://mirror.internal/trixie", "trixie-security")]


def test_suites_already_there_are_not_added_again():
    repos = [repo("http://m/debian", "bookworm"), repo("http://m/debian", "bookworm-updates"),
             repo("http://m/debian-security", "bookworm-security")]
    assert packages.update_suites(repos, "bookworm") == []


def test_nothing_is_guessed_without_a_source_for_the_release():
    assert packages.update_suites([repo("http://m/debian", "trixie")], "bookworm") == []
    assert packages.update_suites([repo("http://m/debian", "bookworm")], "") == []
