"""Maintenance mode by hand: `pyinfra inventories/production.py tasks/maintenance.py
--data maintenance=on|off`. On: every web host's nginx answers 503 with the
maintenance page (the flag file nginx_maintenance_flag exists); off: it serves again.
"""

from pyinfra import host
from pyinfra.operations import files

from stack.checks import Refused

mode = host.data.get("maintenance")  # its form is checked by preflight
if mode is None:
    raise Refused("say which: --data maintenance=on or --data maintenance=off")

if "web_servers" in host.groups:
    files.file(name=f"Maintenance {mode}", path=host.data.nginx_maintenance_flag, present=mode == "on")
