"""pyinfra's config, loaded before the inventory.

Registers the preflight check, so that bad group data or a missing secret stops
every run (deploy.py or any single task file) before a host is contacted.
"""

from pyinfra import config

from stack import preflight

preflight.install()

# Uploads go to /tmp, then sudo moves them: the hosts run libpam-tmpdir (tasks/base.py),
# which gives root a TMPDIR of its own that the SSH user, who uploads, cannot write to.
config.TEMP_DIR = "/tmp"
