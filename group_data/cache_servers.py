"""Redis servers. Seed values (seed 000) unless said otherwise."""

# Memory limit before eviction (Redis size: 512mb, 2gb, ...).
redis_maxmemory = "512mb"
# What to evict at the limit (Redis maxmemory-policy name).
redis_maxmemory_policy = "allkeys-lru"
# RDB snapshots: [seconds, changes] pairs; [] turns snapshots off.
redis_save = [[900, 1], [300, 10], [60, 10000]]
# Also keep an append-only file (bool): more durable, more disk writes.
redis_appendonly = False
# Commands renamed or disabled (command -> new name, "" disables it).
redis_rename_commands = {"FLUSHALL": "", "FLUSHDB": "", "CONFIG": "", "DEBUG": "", "KEYS": ""}
# Private address of the Redis primary this host replicates (IP), or None for a primary.
redis_replica_of = None
