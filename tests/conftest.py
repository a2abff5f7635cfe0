"""Hooks and fixtures for every test; shared helpers are in tests/helpers.py."""

import os

import pytest

from tests.helpers import MEASUREMENTS


def pytest_terminal_summary(terminalreporter):
    if MEASUREMENTS:
        terminalreporter.section("measurements")
        for line in MEASUREMENTS:
            terminalreporter.write_line(line)


@pytest.fixture(autouse=True)
def _no_secrets_from_the_callers_environment(monkeypatch):
    """Tests decide which secrets exist; the developer's own STACK_* never leak in."""
    for key in list(os.environ):
        if key.startswith("STACK_"):
            monkeypatch.delenv(key)
