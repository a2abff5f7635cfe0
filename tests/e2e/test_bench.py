"""The benchmarks' smoke tests: each runs one small case on the tests' testbed, so
that bench/ cannot rot. The figures themselves are not asserted (noisy machines)."""

import re
import subprocess
import sys

from tests.conftest import REPO


def test_the_backup_bench_prints_both_ratios_and_the_rpo_and_leaves_db2_replicating(testbed, host):
    proc = subprocess.run([sys.executable, "-m", "bench.backup", "--name", testbed.name, "--size-mb", "8"],
                          cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert re.search(r"^backup .* ratio [\d.]+x \(goal >= 3x\)$", proc.stdout, re.M)
    assert re.search(r"^restore .* ratio [\d.]+x \(goal >= 5x\)$", proc.stdout, re.M)
    assert re.search(r"^binlog archive RPO: .* after [\d.]+s", proc.stdout, re.M)
    assert host("db2").run("stack-mysql replica --check").rc == 0
    assert "bench" not in host("db2").check_output("mariadb -N -e 'SHOW DATABASES'").split()


def test_the_app_bench_prints_the_ratios_against_its_ceiling_and_the_p99(testbed, first_deploy):
    proc = subprocess.run([sys.executable, "-m", "bench.app", "--name", testbed.name, "--seconds", "1"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert re.search(r"health +\d+ req/s ratio [\d.]+x \(goal >= 0.6x\)", proc.stdout)
    assert re.search(r"write \(POST /sales\) +\d+ req/s ratio [\d.]+x \(goal >= 0.3x\)", proc.stdout)
    assert re.search(r"P99 \d+ ms \(goal < 500 ms\)", proc.stdout)
