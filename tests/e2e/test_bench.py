"""The benchmarks' smoke tests: each runs one small case on the tests' testbed, so
that bench/ cannot rot. The figures themselves are not asserted (noisy machines)."""

import re
import subprocess
import sys

from tests.helpers import REPO


def test_the_backup_bench_prints_both_ratios_and_the_rpo_and_leaves_db2_replicating(testbed, host):
    proc = subprocess.run([sys.executable, "-m", "bench.backup", "--name", testbed.name, "--size-mb", "8"],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert re.search(r"^backup .* ratio [\d.]+x \(goal >= 3x\)$", proc.stdout, re.M)
    assert re.search(r"^restore .* ratio [\d.]+x \(goal >= 5x\)$", proc.stdout, re.M)
    assert re.search(r"^binlog archive RPO: .* after [\d.]+s", proc.stdout, re.M)
    assert host("db2").run("stack-mysql replica --check").rc == 0
    assert "bench" not in host("db2").check_output("mariadb -N -e 'SHOW DATABASES'").split()


def test_the_pitr_bench_replays_both_ways_to_identical_tables_and_prints_the_ratio(testbed, host):
    out = bench("bench.pitr", "--name", testbed.name, "--size-mb", "8")
    assert re.search(r"^pitr replay of \d+ MB of binlog \(\d+ transactions\): ours [\d.]+s .* baseline [\d.]+s "
                     r"\(mariadb-binlog \| mariadb\) +ratio [\d.]+x \(goal >= 2.5x\); CHECKSUM TABLE identical$", out, re.M)
    assert host("db2").run("test -e /var/tmp/stack-bench-pitr").rc == 1  # its scratch servers and files are gone


def test_the_online_ddl_bench_runs_both_changes_under_the_writer_and_leaves_sale_item_as_it_was(testbed, host):
    def sale_item():  # less the AUTO_INCREMENT counter the writer moves, and the foreign key's
        # name, to which pt-online-schema-change adds an underscore (names are unique per schema)
        shown = host("db1").check_output("mariadb -N -e 'SHOW CREATE TABLE sales.sale_item'")
        return re.sub(r" AUTO_INCREMENT=\d+|(?<=CONSTRAINT `)_+", "", shown)

    before = sale_item()
    out = bench("bench.online_ddl", "--name", testbed.name, "--rows", "20000", "--seconds", "3")
    assert re.search(r"^online_ddl writer alone \(50 sales/s, 3s\): \d+ writes, 0 failed, P99 \d+ ms", out, re.M)
    assert re.search(r"^online_ddl online change \(pt-online-schema-change\), sale_item \+20,000 rows: 0 failed "
                     r"writes of \d+ \(goal 0\), P99 \d+ ms = [\d.]+x alone \(goal <= 5x\), max \d+ ms, replica max "
                     r"lag [\d.]+s \(goal <= 1.5s\), [\d.]+s in all$", out, re.M)
    assert re.search(r"^online_ddl server's online ALTER \(ALGORITHM=COPY, LOCK=NONE\): ", out, re.M)
    assert re.search(r"^online_ddl plain ALTER TABLE, sale_item \+20,000 rows: \d+ failed writes", out, re.M)
    assert sale_item() == before
    assert "bench_online" not in host("db1").check_output("mariadb -N -e 'SHOW DATABASES'").split()


def test_the_app_bench_prints_the_ratios_against_its_ceiling_and_the_p99(testbed, first_deploy):
    proc = subprocess.run([sys.executable, "-m", "bench.app", "--name", testbed.name, "--seconds", "1"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert re.search(r"health +\d+ req/s ratio [\d.]+x \(goal >= 0.6x\)", proc.stdout)
    assert re.search(r"write \(POST /sales\) +\d+ req/s ratio [\d.]+x \(goal >= 0.3x\)", proc.stdout)
    assert re.search(r"P99 \d+ ms \(goal < 500 ms\)", proc.stdout)


def bench(*args, timeout=600):
    proc = subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc.stdout


def test_the_converge_bench_prints_the_noop_against_pyinfras_floor_and_the_profile(testbed, first_deploy):
    out = bench("bench.converge", "--name", testbed.name, "--noop-only", "--sizes", "1", "--runs", "1")
    assert re.search(r"^no-op converge, 1 host: [\d.]+s \(goal <= 2s\), pyinfra floor \(connect, one command\) "
                     r"[\d.]+s: ratio [\d.]+x; controller [\d.]+ CPU s, \d+ MB peak$", out, re.M)
    assert re.search(r"^profile of a no-op on web1 \([\d.]+s\): connect [\d.]+s, prepare [\d.]+s, execute [\d.]+s",
                     out, re.M)
    assert re.search(r"^  web1 +\d+ commands \(\d+ while preparing\), [\d.]+s of round trips, \d+ uploads$", out, re.M)
    assert re.search(r"one command on web1: [\d.]+ ms, with sudo [\d.]+ ms", out)


def test_the_scale_bench_prints_the_ratio_the_fit_and_the_extrapolation(testbed, first_deploy):
    out = bench("bench.scale", "--name", testbed.name, "--sizes", "1,2,3", "--runs", "1")
    assert re.search(r"^no-op of tasks/base.py,  3 hosts: +[\d.]+s, ratio to 1 [\d.]+x", out, re.M)
    assert re.search(r"^3 hosts against 1: [\d.]+x \(goal <= 2.5x\)$", out, re.M)
    assert re.search(r"^fit predicts 3 hosts: [\d.]+s, measured [\d.]+s$", out, re.M)
    assert re.search(r"^2000 hosts, one controller: about \d+s as measured here .* at least \d+s of controller CPU",
                     out, re.M)


def test_the_rollout_bench_rolls_out_and_back_under_load_and_ends_on_the_release_it_found(testbed, host):
    def release():
        return {host(h).check_output("readlink /srv/sales/current") for h in ("app1", "app2")}
    found = release()
    out = bench("bench.rollout", "--name", testbed.name, "--rate", "50")
    for what in ("rollout", "rollback"):
        assert re.search(rf"^{what} under load: [\d.]+s, no-op converge [\d.]+s: ratio [\d.]+x; \d+ req/s "
                         r"\(goal >= 50\), \d+ requests, 0 failed \(goal 0\)$", out, re.M)
    assert release() == found
