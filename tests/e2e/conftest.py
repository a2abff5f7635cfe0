"""End-to-end: a testbed of its own (not the developer's), booted once per session,
deployed through the pyinfra CLI, checked over SSH with pytest-testinfra."""

import base64
import http.server
import json
import os
import subprocess
import sys
import threading
import time
import types

import pytest
import testinfra
import yaml

from testbed import Testbed
from tests.e2e.helpers import ENV, NAME, RELEASE, SUBNET
from tests.helpers import MEASUREMENTS, run_pyinfra

pytestmark = pytest.mark.e2e


def pytest_collection_modifyitems(items):
    if os.geteuid() != 0:
        skip = pytest.mark.skip(reason="the testbed needs root (namespaces, mounts, systemd-nspawn)")
        for item in items:
            if "e2e" in item.nodeid:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def testbed():
    tb = Testbed(name=NAME, subnet=SUBNET, release=RELEASE)
    tb.down()  # a fresh testbed every session, whatever a killed run left
    tb.up()
    yield tb
    tb.down()


@pytest.fixture(scope="session")
def first_deploy(testbed):
    """The full converge on fresh hosts; every e2e test checks the state it leaves."""
    started = time.monotonic()
    proc = run_pyinfra("inventories/testbed.py", "deploy.py", env=ENV)
    proc.seconds = time.monotonic() - started
    MEASUREMENTS.append(f"first deploy (5 fresh hosts): {proc.seconds:.1f}s")
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


@pytest.fixture(scope="session")
def host(testbed, first_deploy):
    """testinfra hosts by name, after the first deploy."""
    config = str(testbed.state_dir / "ssh_config")
    cache = {}

    def get(name):
        if name not in cache:
            # as the deploy user, with its sudo: the way a deploy reaches the host
            cache[name] = testinfra.get_host(f"ssh://{name}", ssh_config=config, sudo=True)
        return cache[name]
    return get


@pytest.fixture(scope="session")
def secrets(testbed):
    """The testbed's generated secrets (the deploy read the same file)."""
    return yaml.safe_load((testbed.state_dir / "secrets.yml").read_text())


@pytest.fixture(scope="session")
def address(testbed):
    return testbed.address


# boto3 runs in a process of its own: pyinfra's CLI, which the tests import, has
# gevent patch ssl after ssl was imported, and boto3 then recurses in SSLContext.
S3 = """
import base64, json, sys
import boto3
cfg, method, kw = json.loads(sys.argv[1]), sys.argv[2], json.load(sys.stdin)
if "Body" in kw:
    kw["Body"] = base64.b64decode(kw["Body"])
out = getattr(boto3.client("s3", **cfg), method)(Bucket="stack-backups", **kw)
if "Body" in out:
    out["Body"] = base64.b64encode(out["Body"].read()).decode()
print(json.dumps(out, default=str))
"""


@pytest.fixture(scope="session")
def bucket(testbed, secrets):
    """bucket(method, **arguments): one boto3 S3 call on the testbed's bucket; a Body is bytes."""
    cfg = json.dumps({"endpoint_url": testbed.load_state()["s3_endpoint"], "region_name": "us-east-1",
                      "aws_access_key_id": secrets["s3_access_key_id"],
                      "aws_secret_access_key": secrets["s3_secret_access_key"]})

    def call(method, **kw):
        if "Body" in kw:
            kw["Body"] = base64.b64encode(kw["Body"]).decode()
        proc = subprocess.run([sys.executable, "-c", S3, cfg, method], input=json.dumps(kw), capture_output=True,
                              text=True, check=True)
        out = json.loads(proc.stdout)
        if "Body" in out:
            out["Body"] = base64.b64decode(out["Body"])
        return out
    return call


class Hook(http.server.BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):
        Hook.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def webhook_receiver(testbed):
    """A webhook receiver on the controller's bridge address, which the hosts reach:
    .url, and .received (the JSON bodies posted to it)."""
    server = http.server.HTTPServer((testbed.gateway, 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Hook.received = []
    yield types.SimpleNamespace(url=f"http://{testbed.gateway}:{server.server_port}/hook", received=Hook.received)
    server.shutdown()
