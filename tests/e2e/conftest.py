"""End-to-end: a testbed of its own (not the developer's), booted once per session,
deployed through the pyinfra CLI, checked over SSH with pytest-testinfra."""

import http.server
import json
import os
import threading
import time
import types

import pytest
import yaml

from testbed import Testbed
from tests.e2e.helpers import ENV, NAME, RELEASE, SUBNET, bucket_of, hosts_of
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
    return hosts_of(testbed)


@pytest.fixture(scope="session")
def secrets(testbed):
    """The testbed's generated secrets (the deploy read the same file)."""
    return yaml.safe_load((testbed.state_dir / "secrets.yml").read_text())


@pytest.fixture(scope="session")
def address(testbed):
    return testbed.address


@pytest.fixture(scope="session")
def bucket(testbed, secrets):
    """bucket(method, **arguments): one boto3 S3 call on the testbed's bucket; a Body is bytes."""
    return bucket_of(testbed, secrets)


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
