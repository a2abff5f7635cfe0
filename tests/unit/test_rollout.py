"""stack/rollout.py's bake: the traffic probe each web host runs, and when a window's
traffic fails a release."""

import json
import sys
import types

import pytest

from stack import rollout
from stack.hosttools import traffic
from stack.rollout import MIN_REQUESTS, verdict

LIMITS = types.SimpleNamespace(app_bake_error_rate_percent=5, app_bake_p99_limit=2.0)


def test_an_error_rate_past_the_limit_fails_the_window():
    assert "6.0% of 100 requests (limit 5%)" in verdict("error rate", 100, 6, 0.1, LIMITS)


def test_an_error_rate_at_the_limit_passes():
    assert verdict("error rate", 100, 5, 0.1, LIMITS) is None


def test_a_p99_past_the_limit_fails_the_window():
    assert "P99 2.50s over 50 requests (limit 2.0s)" in verdict("P99", 50, 0, 2.5, LIMITS)


def test_a_p99_within_the_limit_passes_even_with_errors():
    assert verdict("P99", 50, 50, 1.9, LIMITS) is None  # errors are the error-rate window's to judge


def test_too_few_requests_judge_nothing():
    assert verdict("error rate", MIN_REQUESTS - 1, MIN_REQUESTS - 1, 9.0, LIMITS) is None
    assert verdict("P99", MIN_REQUESTS - 1, 0, 9.0, LIMITS) is None


def probe(monkeypatch, capsys, log, since="2026-12-02T10:00:00+00:00"):
    """stack/hosttools/traffic.py as a web host runs it, on ``log``."""
    monkeypatch.setattr(traffic, "LOG", str(log))
    monkeypatch.setattr(sys, "argv", ["traffic", "10.0.0.21:8000", since])
    traffic.main()
    return json.loads(capsys.readouterr().out)


def test_the_probe_counts_this_app_hosts_requests_errors_and_p99(tmp_path, monkeypatch, capsys):
    lines = [{"upstream_addr": "10.0.0.21:8000", "time": "2026-12-02T10:00:0%d+00:00" % i,
              "request_time": 0.1 * i, "error": int(i == 3)} for i in range(1, 5)]
    lines.append({"upstream_addr": "10.0.0.22:8000", "time": "2026-12-02T10:00:05+00:00", "request_time": 9,
                  "error": 1})  # the other app host's
    (tmp_path / "access.log").write_text("".join(json.dumps(r) + "\n" for r in lines) + "not json\n")
    assert probe(monkeypatch, capsys, tmp_path / "access.log") == {"requests": 4, "errors": 1, "p99": 0.4}


def test_a_web_host_that_has_served_nothing_yet_has_no_traffic(tmp_path, monkeypatch, capsys):
    assert probe(monkeypatch, capsys, tmp_path / "no-such.log")["requests"] == 0


def test_a_log_that_cannot_be_read_fails_the_probe(tmp_path, monkeypatch, capsys):
    with pytest.raises(OSError):
        probe(monkeypatch, capsys, tmp_path)  # a directory: no log can be read from it


def status(current, previous):
    return {"current": current, "previous": previous}


def test_a_rollback_goes_to_the_release_every_app_host_replaced():
    assert rollout.rollback_target({"app1": status("r2", "r1"), "app2": status("r2", "r1")}) == "r1"


def test_a_rollback_that_stopped_part_way_is_finished_towards_the_release_some_hosts_run():
    # app1 was rolled back (its previous is what r1 replaced, r0); app2 still runs r2
    assert rollout.rollback_target({"app1": status("r1", "r0"), "app2": status("r2", "r1")}) == "r1"


def test_a_rollout_that_stopped_part_way_is_rolled_back_to_the_release_it_left():
    assert rollout.rollback_target({"app1": status("r2", "r1"), "app2": status("r1", "r0")}) == "r1"


@pytest.mark.parametrize("facts", [
    {"app1": status("r2", "r1"), "app2": status("r3", "r1")},  # neither leads to the other
    {"app1": status("r1", "r2"), "app2": status("r2", "r1")},  # each leads to the other
    {"app1": status("r1", "r0"), "app2": status("r2", "r1"), "app3": status("r3", "r2")},
])
def test_app_hosts_on_releases_no_stopped_run_explains_are_refused(facts):
    with pytest.raises(ValueError, match="run different releases"):
        rollout.rollback_target(facts)


def test_no_common_previous_release_is_refused():
    with pytest.raises(ValueError, match="no common previous release"):
        rollout.rollback_target({"app1": status("r2", "r1"), "app2": status("r2", "r0")})
