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
