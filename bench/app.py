"""The app's request path through nginx, against its own ceiling, on the testbed.

    .venv/bin/python -m bench.app [--name tb] [--seconds 10] [--clients 4] [--compare-workers]

In one run, each path as fast as --clients keep-alive clients go:

    ceiling  GET /sales/summary answered from Redis: nginx and gunicorn with almost
             nothing behind them, the most this machine serves
    health   GET /health: MariaDB and Redis checked, over TLS, on every call
             (goal >= 0.6x the ceiling)
    write    POST /sales: a committed sale of 2 items, 5 rows (goal >= 0.3x)

then a steady 50 req/s of reads and writes (GET /sales/<id>, /sales/summary,
POST /sales) for its P99 (goal < 0.5 s: a tenth of seed 004's 5 s P99 threshold).
--compare-workers measures health and write again for each gunicorn worker model
(a GUNICORN_CMD_ARGS drop-in on the app hosts, removed afterwards). The sales it
writes stay, as any sale does. Needs a deployed testbed (./quickstart deploy).
"""

from __future__ import annotations

import argparse
import http.client
import json
import shlex
import sys
import time

from testbed import Testbed
from testbed.load import Load, tls_to_testbed

SALE = json.dumps({"items": [{"sku": "BENCH-1", "qty": 1, "price": "9.90"},
                             {"sku": "BENCH-2", "qty": 2, "price": "0.45"}]}).encode()
P99_GOAL = 0.5
# gunicorn settings compared with --compare-workers: (name, GUNICORN_CMD_ARGS)
MODELS = [("sync, 4 workers", "--worker-class sync --workers 4"),
          ("sync, 8 workers", "--worker-class sync --workers 8"),
          ("gthread, 2 workers x 4 threads", "--worker-class gthread --workers 2 --threads 4"),
          ("gthread, 4 workers x 4 threads", "--worker-class gthread --workers 4 --threads 4")]
DROP_IN = "/etc/systemd/system/sales.service.d/bench.conf"


def run(address: str, requests, seconds: float, clients: int, rate: float | None = None) -> Load:
    with Load(address, requests=requests, rate=rate, workers=clients, max_seconds=seconds + 5, settle=0) as load:
        time.sleep(seconds)
    if load.failures:
        raise SystemExit(f"{len(load.failures)} of {len(load.records)} requests failed, first: {load.failures[0]}")
    return load


def new_sale(address: str) -> int:
    conn = http.client.HTTPSConnection(address, 443, context=tls_to_testbed(), timeout=10)
    conn.request("POST", "/sales", body=SALE, headers={"Content-Type": "application/json"})
    return json.loads(conn.getresponse().read())["id"]


def measure(address: str, seconds: float, clients: int) -> dict[str, Load]:
    run(address, [("GET", "/sales/summary", None)], 1, 1)  # the summary cached
    return {
        "ceiling": run(address, [("GET", "/sales/summary", None)], seconds, clients),
        "health": run(address, [("GET", "/health", None)], seconds, clients),
        "write": run(address, [("POST", "/sales", SALE)], seconds, clients),
    }


def with_model(tb: Testbed, gunicorn_args: str | None):
    """Every app host on these gunicorn arguments (None: back to the shipped config)."""
    for app, info in tb.load_state()["hosts"].items():
        if "app_servers" not in info["groups"]:
            continue
        tb.ssh(app, "rm", "-f", DROP_IN)
        if gunicorn_args:
            tb.ssh(app, "mkdir", "-p", DROP_IN.rsplit("/", 1)[0])
            tb.ssh(app, "python3", "-c", shlex.quote("import sys; open(sys.argv[1], 'w').write(sys.argv[2])"), DROP_IN,
                   shlex.quote(f'[Service]\nEnvironment="GUNICORN_CMD_ARGS={gunicorn_args}"\n'))
        tb.ssh(app, "systemctl", "daemon-reload")
        tb.ssh(app, "systemctl", "restart", "sales.service")
        deadline = time.monotonic() + 30
        while tb.ssh(app, "curl", "-sf", "-m", "2", "-o", "/dev/null",
                     f"http://{info['address']}:8000/health", check=False).returncode != 0:
            if time.monotonic() > deadline:
                raise SystemExit(f"{app} is not healthy 30 s after its restart")
            time.sleep(0.5)


def report(name: str, runs: dict[str, Load]):
    ceiling = runs["ceiling"].rps
    print(f"{name}: ceiling (GET /sales/summary, cached) {ceiling:6.0f} req/s   "
          f"health {runs['health'].rps:6.0f} req/s ratio {runs['health'].rps / ceiling:.2f}x (goal >= 0.6x)   "
          f"write (POST /sales) {runs['write'].rps:6.0f} req/s ratio {runs['write'].rps / ceiling:.2f}x "
          f"(goal >= 0.3x)")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="bench.app", description=__doc__.split("\n")[0])
    p.add_argument("--name", default="tb", help="the testbed (default tb)")
    p.add_argument("--seconds", type=float, default=10, help="per measurement (default 10)")
    p.add_argument("--clients", type=int, default=4, help="concurrent keep-alive clients (default 4)")
    p.add_argument("--compare-workers", action="store_true", help="also each gunicorn worker model")
    args = p.parse_args(argv)
    tb = Testbed(name=args.name)
    address = tb.load_state()["hosts"]["web1"]["address"]  # its subnet is the state's, not the default

    report("shipped config", measure(address, args.seconds, args.clients))
    ceiling = run(address, [("GET", "/sales/summary", None)], args.seconds, args.clients).rps
    sale = new_sale(address)
    mixed = run(address, [("GET", f"/sales/{sale}", None), ("GET", "/sales/summary", None),
                          ("POST", "/sales", SALE), ("GET", f"/sales/{sale}", None)], args.seconds * 2, 16, rate=50)
    print(f"mixed reads and writes at {mixed.rps:.0f} req/s: P99 {mixed.percentile(99) * 1000:.0f} ms "
          f"(goal < {P99_GOAL * 1000:.0f} ms), P50 {mixed.percentile(50) * 1000:.0f} ms; "
          f"ceiling {ceiling:.0f} req/s")
    if args.compare_workers:
        try:
            for name, gunicorn_args in MODELS:
                with_model(tb, gunicorn_args)
                report(name, measure(address, args.seconds, args.clients))
        finally:
            with_model(tb, None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
