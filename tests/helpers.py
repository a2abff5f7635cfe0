"""Helpers shared by unit and end-to-end tests (fixtures and hooks live in conftest.py)."""

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYINFRA = str(Path(sys.executable).parent / "pyinfra")


# Figures the tests measure (deploy times, rollout under load), printed at the end
# of the run so CI's log carries them. Never asserted on: these machines are noisy.
MEASUREMENTS: list[str] = []


def made_up_secrets(path: Path, leave_out=()) -> Path:
    """A 0600 secrets file with every secret made up, the CA a real one (preflight parses it)."""
    from stack import tls
    from stack.secrets import SECRETS

    values = {name: f"value-of-{name}" for name in SECRETS}
    values["tls_ca_key"], values["tls_ca_cert"] = tls.new_ca(name="made-up CA")
    path.write_text("".join(f"{n}: {json.dumps(v)}\n" for n, v in values.items() if n not in leave_out))
    path.chmod(0o600)
    return path


def run_pyinfra(inventory, *args, env=None, json_output=True, yes=True, timeout=900):
    """Run the pyinfra CLI from the repo root, as an operator would."""
    cmd = [PYINFRA, *(["-y"] if yes else []), *(["--json"] if json_output else []), str(inventory),
           *map(str, args)]
    proc = subprocess.run(cmd, cwd=REPO, env={**os.environ, **(env or {})}, text=True,
                          capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    proc.results, proc.plan = None, []
    if json_output and proc.stdout.strip().startswith("{"):
        out = json.loads(proc.stdout)
        proc.results = (out.get("results") or {}).get("operations")  # a run's results
        proc.plan = [op["name"] for op in out.get("plan", [])]  # --dry: the operations it would run
    return proc


def load_inventory(name: str):
    """An inventory file as pyinfra loads it (group data merged), without connecting."""
    from pyinfra.api import State
    from pyinfra.context import ctx_state
    from pyinfra_cli.inventory import make_inventory

    ctx_state.set(State())  # pyinfra records the file it executes on the state
    return make_inventory(str(REPO / "inventories" / f"{name}.py"), cwd=str(REPO))


def changed_hosts(results) -> dict[str, list[str]]:
    """operation name -> hosts on which it changed something or failed."""
    return {op["name"]: op["success"] + op["error"] for op in results if op["success"] or op["error"]}


def render_for(inventory, host_name: str, src: str, **context) -> str:
    """A template as the deploy renders it for one host of a loaded inventory."""
    from pyinfra.api.util import get_template

    return get_template(str(REPO / src)).render(host=inventory.get_host(host_name), inventory=inventory, **context)
