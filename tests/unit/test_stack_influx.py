"""stack-influx's line protocol and its one definition of the ops measurements."""

import pytest

from stack.hosttools.stack_influx import MEASUREMENTS, Failure, line


def test_point_is_line_protocol_with_typed_fields():
    assert line("deployment", {"environment": "testbed", "release": "2026-x 1"},
                {"duration_s": "9.1", "success": "1"}) == \
        "deployment,environment=testbed,release=2026-x\\ 1 duration_s=9.1,success=1i"


def test_unknown_measurement_is_refused():
    with pytest.raises(Failure, match="unknown measurement 'deploy'"):
        line("deploy", {}, {"success": 1})


def test_unknown_field_is_refused():
    with pytest.raises(Failure, match=r"unknown or missing names \['succes'\]"):
        line("deployment", {}, {"succes": 1})


def test_every_measurement_has_success_and_duration():
    # the dashboards' status panels and the "no successful backup" alert rely on these
    for name, spec in MEASUREMENTS.items():
        assert {"success", "duration_s"} <= set(spec["fields"]), name
