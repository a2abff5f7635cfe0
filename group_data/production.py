"""production: only what really differs from the defaults. This group overrides every
other group (pyinfra adds the inventory file's group last)."""

# SSH user the deploy connects as (Unix user with passwordless sudo).
ssh_user = "deploy"
# Become root through sudo for every operation (bool).
_sudo = True
