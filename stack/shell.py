"""Remote commands built from data, with every value quoted for the shell.

    argv("stack-app", "install", release_id, path)            one command
    StringCommand(argv(...), "&&", argv(...))                  joined by operators

pyinfra's StringCommand joins its bits as they are; only QuoteString bits are
quoted. A value from data is never shell syntax, whatever it holds.
"""

from pyinfra.api import QuoteString, StringCommand


def argv(*args) -> StringCommand:
    return StringCommand(*(QuoteString(str(a)) for a in args))
