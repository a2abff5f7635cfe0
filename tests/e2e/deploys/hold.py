"""A flow that holds its hosts until the controller file named by STACK_TEST_HOLD is
gone: a run that is still going, for the flow lock's test."""

import os
import time

from pyinfra.operations import python


def hold(path: str):
    deadline = time.monotonic() + 120  # bounded: a test that died never holds the testbed for long
    while os.path.exists(path) and time.monotonic() < deadline:
        time.sleep(0.2)


python.call(name="Held until the test lets go", function=hold, path=os.environ["STACK_TEST_HOLD"])
