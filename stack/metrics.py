"""Ops metrics from the controller: points go through stack-influx on the first
monitoring host (it holds the writer's credentials), so the controller needs no
route to InfluxDB and no secret leaves the host's 0600 file. A failed run's
point (success=0) is also posted to the alert webhook there, when
influxdb_failure_webhook is on, and a successful one too with influxdb_success_webhook.

The measurements and their fields are defined once, in
stack/hosttools/stack_influx/measurements.py (MEASUREMENTS); the dashboards are tested
against that definition.
"""

import time

from pyinfra import logger, state
from pyinfra.api.state import BaseStateCallback

from stack import context, tls
from stack.shell import argv
from stack.validate import environment_of


class RunRecord(BaseStateCallback):
    """Writes the run's point (``measurement``: deployment, rollback) once the run is
    over, whatever its outcome. pyinfra disconnects every host it connected to in a
    ``finally``, after the results (a failed run and a run whose hosts all failed
    included), and the SSH sessions are still open then. A record is not a change:
    no operation reports it, so a no-op run reports zero changes."""

    def __init__(self, measurement: str, release):
        self.measurement, self.release = measurement, release
        self.written = False
        self.completed = False  # the last operation ended: pyinfra aborts a run on some errors

    def operation_end(self, state, op_hash):
        self.completed = op_hash == state.get_op_order()[-1]

    def host_disconnect(self, state, host):
        if self.written or not state.is_executing:  # --dry, or stopped before anything ran
            return
        self.written = True
        write_point(state, self.measurement, self.release() or "none",
                    success=self.completed and not state.failed_hosts)


def record_run(measurement: str = "deployment", release=lambda: context.current().release):
    """Called by deploy.py (and the rollback flow) while it is prepared (once per host;
    registers once). ``release``: what the run puts in place, asked at the end."""
    if not any(isinstance(h, RunRecord) for h in state.callback_handlers):
        state.add_callback_handler(RunRecord(measurement, release))


# One literal command per measurement: tests/unit/test_stack_influx.py finds the writers.
COMMANDS = {
    "deployment": ("stack-influx", "write", "deployment"),
    "rollback": ("stack-influx", "write", "rollback"),
    "migration": ("stack-influx", "write", "migration"),
}


def write_point(state, measurement: str, release: str, success: bool, duration: float | None = None, **tags):
    """A run's point, through stack-influx on the first monitoring host reached (it
    posts a failure to the webhook too). ``duration``: the run's, unless given."""
    writers = [h for h in state.inventory.get_group("monitoring_servers", []) if h in state.activated_hosts]
    if not writers:
        logger.warning(f"{measurement} point not written: no monitoring host was reached")
        return
    writer = writers[0]
    seconds = time.monotonic() - context.of(state).started if duration is None else duration
    pairs = [f"environment={environment_of(writer)}", f"release={release}", *(f"{k}={v}" for k, v in tags.items()),
             f"duration_s={seconds:.1f}", f"success={int(success)}"]
    ok, output = writer.run_shell_command(argv(*COMMANDS[measurement], *pairs), _sudo=bool(writer.data.get("_sudo")))
    if ok:
        logger.info(f"--> Run recorded: {measurement} point on {writer.name} (release {release}, "
                    f"success={int(success)})")
    else:
        logger.warning(f"{measurement} point not written on {writer.name}: {output.stderr}")


def host_writer_config(host) -> dict | None:
    """What stack-influx needs to write points from ``host`` itself (flows run by
    its timers, with no controller): the first monitoring host's InfluxDB, the
    write-only writer, and the webhook where failures are posted. None without
    a monitoring host."""
    from stack import secrets

    monitors = host.inventory.get_group("monitoring_servers", [])
    if not monitors:
        return None
    mon = monitors[0].data
    return {
        "major": mon.influxdb_major,
        "url": f"https://{mon.private_address}:{mon.influxdb_port}",
        "ca": tls.CA_CERT,
        "database": host.data.influxdb_bucket,
        "retention_days": host.data.influxdb_retention_days,
        "writer_user": host.data.influxdb_writer_user,
        "writer_password": secrets.get("influxdb_writer_password", host),
        **notices(mon, host),
    }


def notices(monitor, host) -> dict:
    """Where stack-influx posts flows' outcomes: failures when influxdb_failure_webhook
    is on (``monitor``: the first monitoring host's data), successes too with
    influxdb_success_webhook."""
    from stack import secrets

    url = secrets.get("alert_webhook_url", host) if monitor.influxdb_failure_webhook else None
    return {"webhook_url": url, "notify_success": bool(url) and bool(monitor.influxdb_success_webhook)}
