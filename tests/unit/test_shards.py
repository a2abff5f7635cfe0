"""stack.shards: which hosts each shard's run converges (production's inventory:
db1, db2, cache1, app1-3, web1, mon1)."""

import pytest

from stack import shards
from stack.checks import Invalid
from tests.helpers import load_inventory


def names(hosts):
    return sorted(h.name.split(".")[0] for h in hosts)


def test_core_is_the_data_tier_monitoring_web_and_the_migrations_app_host():
    assert names(shards.members(load_inventory("production"), "core")) == [
        "app1", "cache1", "db1", "db2", "mon1", "web1"]


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_the_shards_of_the_rest_are_disjoint_and_cover_it(n):
    inv = load_inventory("production")
    each = [names(shards.members(inv, s)) for s in shards.names(n)]
    flat = [h for hosts in each for h in hosts]
    assert sorted(flat) == names(inv) and len(flat) == len(set(flat))


def test_a_shard_is_the_same_hosts_on_every_run():
    assert [names(shards.members(load_inventory("production"), f"{i}/2")) for i in (1, 2)] == [["app2"], ["app3"]]


def test_a_shards_run_keeps_its_limit_and_narrows_it():
    inv = load_inventory("production")
    for h in inv:
        h.data.shard = "2/2"
    app = {h.name: h for h in inv}
    assert names(shards.limit(inv, None)) == ["app3"]
    assert shards.limit(inv, [app["app2.prod.example.com"]]) == []  # --limit app2 in shard 2/2: nothing
    assert names(shards.limit(inv, list(inv))) == ["app3"]


def test_a_run_without_a_shard_is_left_as_its_limit_says():
    inv = load_inventory("production")
    assert shards.limit(inv, None) is None


@pytest.mark.parametrize("bad", ["0/2", "3/2", "1/0", "all", "1-2"])
def test_a_shard_that_is_not_core_or_i_of_n_is_refused(bad):
    with pytest.raises(Invalid):
        shards.check(bad)


def test_a_bad_shard_is_refused_in_one_line_before_any_host_is_reached():
    from pyinfra.api.exceptions import PyinfraError
    inv = load_inventory("production")
    for h in inv:
        h.data.shard = "x"
    with pytest.raises(PyinfraError, match="--data shard: 'x' is not core or i/n"):
        shards.limit(inv, None)


def test_a_shard_with_no_hosts_is_refused():
    from pyinfra.api.exceptions import PyinfraError
    inv = load_inventory("production")  # a fleet of two: app2, app3
    for h in inv:
        h.data.shard = "3/3"
    with pytest.raises(PyinfraError, match="shard 3/3 has no hosts"):
        shards.limit(inv, None)


@pytest.mark.parametrize("n, ok", [("2", True), ("0", False), ("two", False)])
def test_the_pipelines_matrix_needs_at_least_one_shard(n, ok):
    import subprocess
    import sys

    from tests.helpers import REPO
    # -S: no site-packages, as on the runner before any install
    proc = subprocess.run([sys.executable, "-S", "-m", "stack.shards", n], cwd=REPO, capture_output=True, text=True)
    assert (proc.returncode == 0) is ok, proc.stderr
    if ok:
        assert proc.stdout.strip() == '[{"shard": "1/2", "id": "1-of-2"}, {"shard": "2/2", "id": "2-of-2"}]'
