"""stack/rollout.py's bake verdict: when a window's traffic fails a release."""

import types

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
