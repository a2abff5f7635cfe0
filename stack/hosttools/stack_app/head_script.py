"""stack-app head, run by a release's own Python with ``python -c`` (as plan_script.py):
the head revision of the release's migrations, from its scripts alone.

    python -c SOURCE ALEMBIC_INI
"""

import sys

from alembic.config import Config
from alembic.script import ScriptDirectory


def main():
    print(ScriptDirectory.from_config(Config(sys.argv[1])).get_current_head())


if __name__ == "__main__":
    main()
