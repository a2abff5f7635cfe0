"""pyinfra's config, loaded before the inventory.

Registers the preflight check, so that bad group data or a missing secret stops
every run (deploy.py or any single task file) before a host is contacted.
"""

from stack import preflight

preflight.install()
