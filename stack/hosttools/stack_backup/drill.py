"""stack-backup drill: a backup restored into a scratch server on this host, checked,
timed and removed."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time

from .catalogue import record_drill
from .commands import report, sh
from .restore import stage
from .server import facts, load
from .store import Failure, Store


DRILL_DIR = "/var/lib/mysql-drill"  # 0700, the scratch server's own (mysql), next to the live one


@contextlib.contextmanager
def scratch_server(datadir: str):
    """A throwaway mariadbd on its own datadir and socket: no network, no replication,
    no grants; stopped and gone afterwards. Yields its socket."""
    socket = os.path.join(os.path.dirname(datadir), "scratch.sock")
    log = os.path.join(os.path.dirname(datadir), "scratch.err")
    # Its temporary files beside its data: the caller's TMPDIR may be root's own
    # (libpam-tmpdir), where the mysql user cannot write.
    proc = subprocess.Popen(["mariadbd", "--no-defaults", "--user=mysql", f"--datadir={datadir}",
                             f"--tmpdir={os.path.dirname(datadir)}",
                             f"--socket={socket}", f"--pid-file={datadir}.pid", f"--log-error={log}",
                             "--skip-networking", "--skip-slave-start", "--skip-grant-tables", "--skip-log-bin",
                             "--innodb-buffer-pool-size=128M"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            if os.path.exists(socket):
                break
            if proc.poll() is not None:
                with open(log, errors="replace") as f:
                    raise Failure(f"the scratch server did not start: {f.read()[-1000:]}")
            time.sleep(0.1)
        else:
            raise Failure("the scratch server did not open its socket in 60 s")
        yield socket
    finally:
        proc.terminate()
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def differences(found: dict, m: dict) -> str | None:
    """How the restored data differs from manifest ``m``, if it does. A backup taken on a
    primary under writes (``rows_exact`` false) has counts that may have moved between
    the copy and the count: its tables and revision are compared, not its counts."""
    exact = m.get("rows_exact", True)
    rows_differ = found["rows"] != m["rows"] if exact else set(found["rows"]) != set(m["rows"])
    if rows_differ or found["alembic_revision"] != m["alembic_revision"]:
        what, got, want = ("rows", found["rows"], m["rows"]) if exact else \
            ("tables", sorted(found["rows"]), sorted(m["rows"]))
        return (f"the restored data differs from the manifest: {what} {got} against {want}, "
                f"revision {found['alembic_revision']} against {m['alembic_revision']}")
    return None


def drill(cfg: dict, which: str, identity: str, source: str | None) -> int:
    """The latest backup restored into a scratch server on this host, checked (sha256,
    rows, alembic revision), timed, and removed. The live server is not touched."""
    clock, work = time.monotonic(), DRILL_DIR
    point = dict(kind="drill", method="unknown")
    try:
        m = stage(cfg, which, identity, source, work=work)
        point["method"] = m["method"]
        datadir = os.path.join(work, "data")
        sh("chown", "-R", "mysql:mysql", work)  # the scratch server runs as mysql, as the live one
        if m["method"] == "logical":
            sh("mariadb-install-db", "--no-defaults", "--user=mysql", f"--datadir={datadir}",
               "--auth-root-authentication-method=socket", "--skip-test-db")
        with scratch_server(datadir) as socket:
            if m["method"] == "logical":
                load(socket, os.path.join(work, "dump.sql.zst"), m["databases"])
            found = facts({**cfg, "socket": socket})
        wrong = differences(found, m)
        if wrong:
            raise Failure(wrong)
    except BaseException:
        report(cfg, ["stack-influx", "write", "restore"], **point,
               duration_s=round(time.monotonic() - clock, 1), success=0)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rto = time.monotonic() - clock
    report(cfg, ["stack-influx", "write", "restore"], **point, duration_s=round(rto, 1), success=1)
    record_drill(Store(cfg), m, rto)  # the catalogue shows which backups a drill has restored
    checked = f"{sum(m['rows'].values())} rows" if m.get("rows_exact", True) else \
        f"{len(m['rows'])} tables (row counts not compared: taken on a primary under writes)"
    print(f"drill {m['id']}: restored into a scratch server, {checked} and revision "
          f"{m['alembic_revision']} match the manifest; RTO {rto:.1f}s; scratch removed")
    return 0
