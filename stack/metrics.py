"""Ops metrics from the controller: points go through stack-influx on the first
monitoring host (it holds the writer's credentials), so the controller needs no
route to InfluxDB and no secret leaves the host's 0600 file. A failed run's
point (success=0) is also posted to the alert webhook there, when
influxdb_failure_webhook is on.

The measurements and their fields are defined once, in
stack/hosttools/stack_influx.py (MEASUREMENTS); the dashboards are tested
against that definition.
"""

import time

from pyinfra import host, state
from pyinfra.api import StringCommand

from stack import artifact
from stack.validate import ENVIRONMENTS

STARTED = time.monotonic()  # when pyinfra first loaded the deploy: the run's start


def record_deployment(sudo: bool):
    """The deploy's last step: how long it took, whether every host succeeded, which release."""
    success = not state.failed_hosts
    environment = next((g for g in host.groups if g in ENVIRONMENTS), "unknown")
    command = StringCommand(
        "stack-influx", "write", "deployment", f"environment={environment}",
        f"release={artifact.LAST_RELEASE or 'none'}",
        f"duration_s={time.monotonic() - STARTED:.1f}", f"success={int(success)}")
    ok, output = host.run_shell_command(command, _sudo=sudo)
    if not ok:
        raise RuntimeError(f"deployment point not written: {output.stderr}")
