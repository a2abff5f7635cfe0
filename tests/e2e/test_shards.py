"""A converge split into shards (stack/shards.py) on the testbed: core (db1, db2, web1,
app1) first, then shard 1/1 (app2), as the pipeline's matrix runs them, a new release
rolled out under load. Ends with the default release live again."""

from testbed.load import Load
from tests.e2e.helpers import WRITES, lost_writes, not_retryable, pyinfra_on_testbed, release_of, variant
from tests.helpers import changed_hosts


def hosts_changed(proc) -> set[str]:
    return {h for hosts in changed_hosts(proc.results).values() for h in hosts}


def test_a_release_goes_out_core_first_then_shard_by_shard_without_a_failed_request(host, address, tmp_path):
    before = release_of(host("app1"))
    src = variant(tmp_path, "v-shards")
    try:
        with Load(address("web1"), path="/sales/summary", rate=20) as readers, \
                Load(address("web1"), requests=WRITES, rate=None, workers=2) as writers:
            core = pyinfra_on_testbed("deploy.py", "--data", "shard=core", "--data", f"app_source={src}")
            between = release_of(host("app1")), release_of(host("app2"))
            rest = pyinfra_on_testbed("deploy.py", "--data", "shard=1/1", "--data", f"app_source={src}",
                                      json_output=False)
    finally:  # the default release again, everywhere: the rollback's (13 s), else a converge's
        if pyinfra_on_testbed("tasks/rollback.py").returncode != 0:
            assert pyinfra_on_testbed("deploy.py").returncode == 0
        assert {release_of(host(h)) for h in ("app1", "app2")} == {before}
    assert core.returncode == 0, core.stderr[-3000:]
    assert rest.returncode == 0, (rest.stdout + rest.stderr)[-3000:]
    new, old = between
    assert new != before and old == before  # the core's app host first, the shard's after
    assert "app2" not in hosts_changed(core)
    assert "Connected (its log read for the bakes)" in rest.stdout + rest.stderr  # web1, read not converged
    assert "app2: baking" in rest.stdout + rest.stderr
    assert readers.failures == [] and not_retryable(writers.failures) == [] and lost_writes(host, writers) == {}


def test_a_shards_no_op_connects_only_its_hosts():
    proc = pyinfra_on_testbed("deploy.py", "--data", "shard=1/1", json_output=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    connected = {line.split("]")[0].strip(" [") for line in out.splitlines() if line.strip().endswith("Connected")}
    assert connected == {"app2"}
