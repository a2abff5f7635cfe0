"""What the e2e tests share: running pyinfra against the tests' testbed, reaching its
hosts, reading InfluxDB points, taking backups, making app release variants. The test
modules import from here, never from each other; fixtures live in conftest.py."""

import base64
import datetime
import http.client
import json
import os
import re
import shlex
import shutil
import ssl
import subprocess
import sys
import time

import testinfra

from testbed import rootfs
from tests.helpers import PYINFRA, REPO, run_pyinfra

# The tests' own testbed, beside a developer's `tb`, on the release TESTBED_RELEASE names
# (.ci/run runs the suite on each release of the support matrix).
NAME = os.environ.get("STACK_E2E_TESTBED", "tbtest")  # another name runs a second suite beside it
SUBNET = os.environ.get("STACK_E2E_SUBNET", "10.231.9.0/24")
RELEASE = os.environ.get("TESTBED_RELEASE", rootfs.DEFAULT_RELEASE)
ENV = {"TESTBED_NAME": NAME}


def pyinfra_on_testbed(*args, **kw):
    return run_pyinfra("inventories/testbed.py", *args, env={**ENV, **kw.pop("env", {})}, **kw)


def pyinfra_killed_at(marker, *args, env=None) -> str:
    """pyinfra on the testbed, SIGKILLed as soon as its output shows ``marker`` (a
    string or a compiled pattern: an operation starting, a host's line): a controller
    dying at that step. Its output."""
    found = marker.search if isinstance(marker, re.Pattern) else lambda line: marker in line
    proc = subprocess.Popen([PYINFRA, "-y", "inventories/testbed.py", *args], cwd=REPO, text=True,
                            env={**os.environ, **ENV, **(env or {}), "PYTHONUNBUFFERED": "1"}, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if found(line):
            proc.kill()
            break
    proc.wait()
    out = "".join(seen)
    assert found(out), f"the run ended before {marker!r}: {out[-3000:]}"
    return out


REACH = """
import socket, sys
s = socket.socket(); s.settimeout(2)
try:
    s.connect((sys.argv[1], int(sys.argv[2]))); print("open")
except ConnectionRefusedError:
    print("refused")  # the packet got through: nothing listens, but the firewall let it in
except OSError:
    print("dropped")
"""


def reach(host, target, port):
    """From a testbed host: "open", "refused" (let in, nothing listening) or "dropped"."""
    return host.check_output("python3 -c %s %s %s", REACH, target, str(port)).strip()


def vendor_unreachable(testbed, task, prefix, *data):
    """Run a task on web1 with a vendor component's data set and its repository
    pointed at a port on the controller where nothing listens (no traffic
    leaves the testbed)."""
    base = f"http://{testbed.gateway}:9/{prefix}"
    args = [f"{prefix}_apt_url={base}", f"{prefix}_apt_key_url={base}/key.asc", *data]
    return pyinfra_on_testbed(task, "--limit", "web1", *[a for d in args for a in ("--data", d)],
                              json_output=False)


def back_up(*data):
    proc = pyinfra_on_testbed("tasks/backup.py", *[a for d in data for a in ("--data", d)], json_output=False)
    proc.backup_id = (re.findall(r"backup (\d{8}T\d{6}Z): ", proc.stdout + proc.stderr) or [None])[-1]
    return proc


def points(host, measurement, since: str, fields="success") -> list:
    """[time, fields...] rows of the ops points written since ``since`` (RFC 3339)."""
    return rows(query(host, "admin", f"SELECT {fields} FROM {measurement} WHERE time >= '{since}'"))


def utc_now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def binlog_keys(bucket) -> set[str]:
    return {o["Key"] for o in bucket("list_objects_v2", Prefix="db2/binlog/").get("Contents", [])}


def binlog_holding(h, text: str) -> str:
    """The primary's binlog that holds a statement with ``text``: the archiver may have
    closed it between the statement and a SHOW MASTER STATUS, which then names an empty
    one that no flush closes."""
    for name in reversed(h.check_output("mariadb -N -e 'SHOW BINARY LOGS'").split("\n")):
        name = name.split("\t")[0]
        if text in h.check_output(f"mariadb -N -e \"SHOW BINLOG EVENTS IN '{name}'\""):
            return name
    raise AssertionError(f"no binlog holds {text!r}")


def offsite(host, bucket, flush=False, timeout=90, write: tuple[str, str] | None = None) -> float:
    """Seconds until the primary's binlog as it ends now is archived in S3: once the
    primary closes it (the archiver makes it, or ``flush`` does now). With ``write``
    (SQL, a word in it): from that write to its binlog's archive."""
    h, known, started = host("db1"), binlog_keys(bucket), time.monotonic()
    if write:
        h.run_expect([0], f"mariadb -e {shlex.quote(write[0])}")
        current = binlog_holding(h, write[1])
    else:
        current = h.check_output("mariadb -N -e 'SHOW MASTER STATUS'").split("\t")[0]
    if flush:
        h.run_expect([0], "mariadb -e 'FLUSH BINARY LOGS'")
    while not any(k.endswith(f"-{current}.zst.age") for k in binlog_keys(bucket) - known):
        assert time.monotonic() - started < timeout, f"{current} was not archived in {timeout}s"
        time.sleep(0.5)
    return time.monotonic() - started


def replica_reconnected(h, timeout=60):
    """The replica back on its primary now, not after its own retry interval (60 s)."""
    h.run_expect([0], "mariadb -e 'STOP SLAVE IO_THREAD; START SLAVE IO_THREAD'")
    deadline = time.monotonic() + timeout
    while "Slave_IO_Running: Yes" not in h.check_output("mariadb -e 'SHOW SLAVE STATUS\\G'"):
        assert time.monotonic() < deadline, "the replica did not reconnect to the restarted primary"
        time.sleep(1)


QUERY = """
import base64, json, ssl, sys, urllib.error, urllib.parse, urllib.request
cfg = json.load(open("/etc/stack/influxdb.json"))
who, q = sys.argv[1], sys.argv[2]
context = ssl.create_default_context(cafile=cfg["ca"])  # the internal CA, the address checked
req = urllib.request.Request(cfg["url"] + "/query", data=urllib.parse.urlencode({"q": q, "db": cfg["database"]}).encode())
if who != "anonymous":
    user, password = {"admin": (cfg["admin_user"], cfg["admin_password"]),
                      "writer": (cfg["writer_user"], cfg["writer_password"]),
                      "wrong": (cfg["admin_user"], "wrong")}[who]
    req.add_header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())
try:
    with urllib.request.urlopen(req, timeout=5, context=context) as r:
        print(json.dumps({"status": r.status, "body": json.loads(r.read())}))
except urllib.error.HTTPError as e:
    print(json.dumps({"status": e.code, "body": e.read().decode()}))
"""


def query(host, who, q):
    """Query InfluxDB on web1 as admin, writer, anonymous or with a wrong password
    (credentials read on the host from its 0600 file, never on a command line)."""
    return json.loads(host("web1").check_output("python3 -c %s %s %s", QUERY, who, q))


def rows(result):
    return [row for serie in result["body"]["results"][0].get("series", []) for row in serie["values"]]


def get(address, path, port=443, tls_max=None, headers=None, method="GET", body=None):
    if port == 443:
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        if tls_max:
            ctx.maximum_version = tls_max
        conn = http.client.HTTPSConnection(address, port, context=ctx, timeout=10)
    else:
        conn = http.client.HTTPConnection(address, port, timeout=10)
    conn.request(method, path, body=body, headers=headers or {})
    resp = conn.getresponse()
    resp.body = resp.read()
    resp.tls = conn.sock.version() if port == 443 else None
    conn.close()
    return resp


APP = "/srv/sales"


def release_of(h):
    return h.check_output(f"readlink {APP}/current").removeprefix("releases/")


def variant(tmp_path, name, edit=None):
    """A copy of the sample app with different content, so a different release."""
    src = tmp_path / name
    shutil.copytree(REPO / "files/app", src, ignore=shutil.ignore_patterns("__pycache__"))
    (src / "wsgi.py").write_text((src / "wsgi.py").read_text() + f"# {name}\n")
    if edit:
        edit(src)
    return src


TABLES = "sales.sale, sales.sale_item, sales.stock_move, sales.alembic_version"


FLAG = "/var/www/maintenance/on"
# What clients write during a flow: each 201 must be a row afterwards, on every db host.
SALE = json.dumps({"items": [{"sku": "FLOW-1", "qty": 1, "price": "1.00"}]}).encode()
WRITES = [("POST", "/sales", SALE)]


def lost_writes(host, load) -> dict[str, list[int]]:
    """The acknowledged sales (a 201) that are not a row, per db host."""
    if not load.created:
        return {"(no write was acknowledged)": []}
    lost = {}
    at = host("db1").check_output("mariadb -N -e 'SELECT @@gtid_binlog_pos'")
    host("db2").check_output(f"mariadb -N -e \"SELECT MASTER_GTID_WAIT('{at}', 60)\"")  # caught up
    for name in ("db1", "db2"):
        found = host(name).check_output(f"mariadb -N -e 'SELECT COUNT(*) FROM sales.sale WHERE id IN "
                                        f"({','.join(map(str, load.created))})'")
        if int(found) != len(load.created):
            rows = set(map(int, host(name).check_output(
                f"mariadb -N -e 'SELECT id FROM sales.sale WHERE id IN ({','.join(map(str, load.created))})'"
            ).split()))
            lost[name] = sorted(set(load.created) - rows)
    return lost


def not_retryable(failures: list[str]) -> list[str]:
    """The refusals a client would not retry: anything but a 503 with Retry-After."""
    return [f for f in failures if not re.match(r"503 \S+ \S+ retry-after=\d+ ", f)]


def checksums(h) -> dict[str, str]:
    out = h.check_output(f"mariadb -N -e 'CHECKSUM TABLE {TABLES} EXTENDED'")
    return dict(line.split("\t") for line in out.splitlines())


def server_run(h) -> str:
    """Changes whenever the server was stopped or restarted."""
    return h.check_output("systemctl show mariadb -p InvocationID --value")


# The product's head revision, and the one release_with_revision adds on top of it.
HEAD = max(p.name.split("_")[0] for p in (REPO / "migrations/versions").glob("[0-9]*.py"))
TEST_REVISION = f"{int(HEAD) + 1:04d}"

REVISION = '''"""{doc}

Revision ID: {revision}
Revises: {down}
"""
from alembic import op
from online import alter

revision = "{revision}"
down_revision = "{down}"
branch_labels = None
depends_on = None
breaking = False
destructive = {destructive}
intended = set()
online = {online}


def upgrade():
{upgrade}


def downgrade():
{downgrade}
'''


def release_with_revision(tmp, name: str, doc: str, upgrade: list, downgrade: list, destructive=False,
                          online=False) -> list[str]:
    """--data for a release of the sample app whose migrations end with a revision
    TEST_REVISION of these statements (online: of these (table, spec) online changes)."""
    migrations = tmp / "migrations"
    shutil.copytree(REPO / "migrations", migrations, ignore=shutil.ignore_patterns("__pycache__"))

    def body(steps):
        return "\n".join(f"    alter({t!r}, {spec!r})" if online else f"    op.execute({t!r})"
                         for t, spec in (steps if online else [(q, None) for q in steps]))
    (migrations / f"versions/{TEST_REVISION}_test.py").write_text(REVISION.format(
        doc=doc, revision=TEST_REVISION, down=HEAD, destructive=destructive, online=online,
        upgrade=body(upgrade), downgrade=body(downgrade)))
    return [f"app_source={variant(tmp, name)}", f"app_migrations={migrations}"]


def hosts_of(testbed):
    """host(name): testinfra hosts of ``testbed``, as the deploy user with its sudo (the way
    a deploy reaches them)."""
    config, cache = str(testbed.state_dir / "ssh_config"), {}

    def get(name):
        if name not in cache:
            cache[name] = testinfra.get_host(f"ssh://{name}", ssh_config=config, sudo=True)
        return cache[name]
    return get


def bucket_of(testbed, secrets):
    """bucket(method, **arguments): one boto3 S3 call on ``testbed``'s bucket; a Body is bytes.
    boto3 runs in a process of its own (tests/e2e/s3_call.py): pyinfra's CLI, which the tests
    import, has gevent patch ssl after ssl was imported, and boto3 then recurses in SSLContext."""
    cfg = json.dumps({"endpoint_url": testbed.load_state()["s3_endpoint"], "region_name": "us-east-1",
                      "aws_access_key_id": secrets["s3_access_key_id"],
                      "aws_secret_access_key": secrets["s3_secret_access_key"]})

    def call(method, **kw):
        if "Body" in kw:
            kw["Body"] = base64.b64encode(kw["Body"]).decode()
        proc = subprocess.run([sys.executable, "-m", "tests.e2e.s3_call", cfg, method], input=json.dumps(kw),
                              capture_output=True, text=True, check=True, cwd=REPO)
        out = json.loads(proc.stdout)
        if "Body" in out:
            out["Body"] = base64.b64decode(out["Body"])
        return out
    return call

