"""The full converge, in run order: `pyinfra -y inventories/<env>.py deploy.py`.

Each component is one task file run on the hosts of its group. Data comes from
group_data/ and the inventory; preflight (config.py) has already checked it.
"""

from pyinfra import local

local.include("tasks/base.py")
