"""stack-mysql freeze and thaw: the primary's writes stopped at an exact point, and
let through again.

``SET GLOBAL read_only = 1`` waits for the transactions committing at that moment,
and from then on refuses every commit but those of accounts with READ_ONLY ADMIN
(the migration user, root). So the binlog position read right after it is the
freeze point: every write a client saw succeed is before it, and none comes
after. The app answers a refused write with 503 (Retry-After from nginx): the
client retries it later, and nothing it was told succeeded is lost when a failed
migration puts the data back up to that point.
"""

from __future__ import annotations

import json

from .server import connect


def freeze(desired) -> int:
    conn = connect(desired)
    with conn.cursor() as cur:
        cur.execute("SET GLOBAL read_only = 1")
        cur.execute("SELECT @@gtid_binlog_pos AS gtid")
        print(json.dumps({"gtid": cur.fetchone()["gtid"]}))
    return 0


def thaw(desired) -> int:
    conn = connect(desired)
    with conn.cursor() as cur:
        cur.execute("SET GLOBAL read_only = 0")
    return 0
