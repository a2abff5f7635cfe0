"""Remote commands built from data, with every value quoted for the shell.

    argv("stack-app", "install", release_id, path)            one command
    StringCommand(argv(...), "&&", argv(...))                  joined by operators
    run_on(host, "stack-app", "plan", rid, what="the plan")   run by a flow's python.call

pyinfra's StringCommand joins its bits as they are; only QuoteString bits are
quoted. A value from data is never shell syntax, whatever it holds.
"""

from pyinfra.api import QuoteString, StringCommand


def argv(*args) -> StringCommand:
    return StringCommand(*(QuoteString(str(a)) for a in args))


def run_on(host, *args, what: str) -> str:
    """One command on ``host`` from a flow's python.call, as the deploy runs them (the
    host's sudo), its output shown. Returns its stdout; raises, saying ``what`` and the
    command's own error, when it fails."""
    ok, out = host.run_shell_command(argv(*args), _sudo=bool(host.data.get("_sudo")), print_output=True)
    if not ok:
        raise RuntimeError(f"{what}: {(out.stderr or out.stdout).strip()[-1500:]}")
    return out.stdout
