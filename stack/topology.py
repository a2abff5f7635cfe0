"""Which host plays which part, from the inventory (validated: exactly one primary)."""

from pyinfra import inventory


def primary():
    return next(h for h in inventory.get_group("db_servers") if h.data.mysql_role == "primary")


def replicas():
    return [h for h in inventory.get_group("db_servers") if h.data.mysql_role == "replica"]


def backup_source():
    """Where backups run: the first replica when backup_source (db_servers' data) is
    "replica" and one exists, else the primary."""
    return replicas()[0] if primary().data.backup_source == "replica" and replicas() else primary()
