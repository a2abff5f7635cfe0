"""The local testbed: hosts booted by `python -m testbed up`.

Addresses, the SSH key, the apt proxy and the generated secrets come from the
testbed's state file. TESTBED_NAME selects another testbed (the tests use one of
their own). Connection: as in production (group_data/all.py: the deploy user and sudo),
with the testbed's key and strict host keys.
"""

from testbed import inventory_group

db_servers = inventory_group("db_servers")
cache_servers = inventory_group("cache_servers")
app_servers = inventory_group("app_servers")
web_servers = inventory_group("web_servers")
monitoring_servers = inventory_group("monitoring_servers")
base_servers = inventory_group("base_servers")  # `up --extra N`: base-only hosts
