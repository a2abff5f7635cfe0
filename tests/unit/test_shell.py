"""stack.shell.one_line: a flow step's failure is its message, not a traceback."""

import pytest
from pyinfra.api.exceptions import NestedOperationError
from pyinfra.context import ctx_host

from stack.checks import Refused
from stack.shell import one_line


class Host:
    name = "db1"

    def __init__(self):
        self.said = []

    def log_styled(self, message, **kwargs):
        self.said.append(message)


@pytest.mark.parametrize("error", [RuntimeError, Refused])
def test_an_expected_failure_is_said_once_and_still_fails_the_operation(error):
    def step():
        raise error("the swap failed; maintenance mode stays ON on purpose")
    host = Host()
    with ctx_host.use(host), pytest.raises(NestedOperationError) as e:
        one_line(step)()
    assert host.said == ["the swap failed; maintenance mode stays ON on purpose"]
    assert e.value.__cause__ is None and e.value.__suppress_context__  # pyinfra prints no chain


def test_a_bug_keeps_its_traceback():
    def step():
        return {}["missing"]
    with ctx_host.use(Host()), pytest.raises(KeyError):
        one_line(step)()


def test_a_step_that_succeeds_returns_its_value():
    assert one_line(lambda x: x * 2)(21) == 42
