"""One app host's requests in nginx's JSON access log since a time: count, 5xx, P99.

Run on each web host by stack/rollout.py as ``python3 -c <this file> UPSTREAM SINCE``
(upstream_addr tells the app hosts apart); prints JSON. Standard library only.
"""

import datetime
import json
import os
import sys

LOG = "/var/log/nginx/access.log"


def main():
    upstream, since = sys.argv[1], datetime.datetime.fromisoformat(sys.argv[2])
    times, errors = [], 0
    if not os.path.exists(LOG):  # nginx has served nothing here yet (a first converge): no traffic
        print(json.dumps({"requests": 0, "errors": 0, "p99": 0.0}))
        return
    with open(LOG, "rb") as f:  # any other failure to read fails the bake
        f.seek(max(0, os.path.getsize(LOG) - (32 << 20)))
        for raw in f:
            try:
                r = json.loads(raw)
                if upstream in r["upstream_addr"].replace(" ", "").split(",") and \
                        datetime.datetime.fromisoformat(r["time"]) >= since:
                    times.append(float(r["request_time"]))
                    errors += int(r["error"])
            except (ValueError, KeyError):
                continue
    times.sort()
    print(json.dumps({"requests": len(times), "errors": errors,
                      "p99": times[max(0, -(-len(times) * 99 // 100) - 1)] if times else 0.0}))


if __name__ == "__main__":
    main()
