"""Remote commands built from data, with every value quoted for the shell.

    argv("stack-app", "install", release_id, path)            one command
    StringCommand(argv(...), "&&", argv(...))                  joined by operators
    run_on(host, "stack-app", "plan", rid, what="the plan")   run by a flow's python.call
    call(name="...", function=f)                               a flow's python.call, failing in one line

pyinfra's StringCommand joins its bits as they are; only QuoteString bits are
quoted. A value from data is never shell syntax, whatever it holds.
"""

import functools

from pyinfra.api import QuoteString, StringCommand
from pyinfra.api.exceptions import NestedOperationError, PyinfraError


def argv(*args) -> StringCommand:
    return StringCommand(*(QuoteString(str(a)) for a in args))


def run_on(host, *args, what: str, shown: bool = True) -> str:
    """One command on ``host`` from a flow's python.call, as the deploy runs them (the
    host's sudo), its output shown (unless ``shown`` is False: output the flow reads).
    Returns its stdout; raises, saying ``what`` and the command's own error, when it fails."""
    ok, out = host.run_shell_command(argv(*args), _sudo=bool(host.data.get("_sudo")), print_output=shown)
    if not ok:
        raise RuntimeError(f"{what}: {(out.stderr or out.stdout).strip()[-1500:]}")
    return out.stdout


def one_line(function):
    """``function`` whose expected failures (a RuntimeError or a refusal, each saying what
    failed and what to do) print as that message alone: pyinfra prints any exception a
    python.call raises with its traceback, which buries the message. Anything else is
    a bug, and keeps its traceback."""
    @functools.wraps(function)
    def run(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except NestedOperationError:
            raise
        except (RuntimeError, PyinfraError) as e:
            from pyinfra import host, logger
            host.log_styled(str(e), fg="red", log_func=logger.error)
            raise NestedOperationError(str(e)) from None  # fails the operation; pyinfra adds no traceback
    return run


def call(*, name: str, function, **kwargs):
    """pyinfra's python.call, with ``function``'s failures in one line (``one_line``)."""
    from pyinfra.operations import python

    return python.call(name=name, function=one_line(function), **kwargs)
