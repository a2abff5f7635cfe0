"""The app's connections under faults, on the testbed, under load: a database or
Redis restart costs requests only while the server is down, the app recovers
without a restart of its own, and every 201 is a committed row. Malformed bodies
get a 400 with a JSON error, never a 500."""

import http.client
import json
import random
import time

from testbed.load import Load, tls_to_testbed

SALE = json.dumps({"items": [{"sku": "FAULT-1", "qty": 1, "price": "1.00"}]}).encode()
MIX = [("POST", "/sales", SALE), ("GET", "/sales/summary", None), ("GET", "/ready", None)]
APP_TIMEOUT = 5  # seconds: the app's connect/read timeout (files/app/sales)


def app_pids(host):
    return {name: host(name).check_output("systemctl show sales -p MainPID --value") for name in ("app1", "app2")}


def restart(h, service) -> tuple[float, float]:
    """(started, ended) of a restart of ``service`` on ``h``, on the controller's clock."""
    started = time.monotonic()
    h.run_expect([0], f"systemctl restart {service}")
    return started, time.monotonic()


def committed(host, ids, on="db1") -> int:
    listed = ",".join(str(int(i)) for i in ids)
    return int(host(on).check_output(f"mariadb -N -e 'SELECT COUNT(*) FROM sales.sale WHERE id IN ({listed})'"))


def post_sales(address, n):
    conn = http.client.HTTPSConnection(address, 443, context=tls_to_testbed(), timeout=10)
    ids = []
    for _ in range(n):
        conn.request("POST", "/sales", body=SALE, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        ids.append(json.loads(resp.read())["id"] if resp.status == 201 else None)
    return ids


def test_a_database_restart_costs_requests_only_while_it_is_down(host, address):
    before, grace = app_pids(host), 2
    with Load(address("web1"), requests=MIX, rate=40, workers=8) as load:
        down, up = restart(host("db1"), "mariadb")
        time.sleep(grace + 3)  # then a stretch that must be clean
    assert load.failed_between(load.started, down) == []
    after_failures = load.failed_between(up + grace, time.monotonic())
    assert after_failures == [], after_failures[:5]
    assert sum(1 for r in load.records if r[0] >= up + grace and r[2] in (200, 201)) > 50
    # nobody waited on a dead connection past the app's own timeout
    assert max(r[1] for r in load.records) < APP_TIMEOUT + 2
    assert app_pids(host) == before  # recovered without an app restart


def test_a_redis_restart_fails_no_request_at_all(host, address):
    # The cache is a cache: while Redis is down the summary is read from MariaDB and
    # a sale's cache invalidation is skipped (the entry expires by itself).
    before = app_pids(host)
    with Load(address("web1"), requests=MIX, rate=40, workers=8) as load:
        restart(host("web1"), "redis-server")
        time.sleep(3)
    assert load.failures == [], load.failures[:5]
    assert app_pids(host) == before


def test_every_201_is_a_committed_row_and_reaches_the_replica(host, address):
    ids = post_sales(address("web1"), 20)
    restart(host("db1"), "mariadb")
    ids += post_sales(address("web1"), 20)
    created = [i for i in ids if i is not None]
    assert len(created) >= 20 and committed(host, created) == len(created)
    # the replica's IO thread retries a lost primary after its connect-retry interval: kick it
    host("db2").run_expect([0], "mariadb -e 'STOP SLAVE IO_THREAD; START SLAVE IO_THREAD'")
    deadline = time.monotonic() + 30
    while committed(host, created, on="db2") != len(created):
        assert time.monotonic() < deadline, "the replica did not catch up in 30 s"
        time.sleep(0.5)


MALFORMED = [
    b"", b"not json", b"[]", b"null", b"42", b'"items"', b"{}", b'{"items": null}', b'{"items": "abc"}',
    b'{"items": []}', b'{"items": {}}', b'{"items": [1]}', b'{"items": [null]}', b'{"items": [[]]}',
    b'{"items": [{}]}', b'{"items": [{"sku": "A", "qty": 1}]}', b'{"items": [{"sku": "A", "price": 1}]}',
    b'{"items": [{"qty": 1, "price": 1}]}', b'{"items": [{"sku": "", "qty": 1, "price": 1}]}',
    b'{"items": [{"sku": 5, "qty": 1, "price": 1}]}', b'{"items": [{"sku": "A", "qty": "1", "price": 1}]}',
    b'{"items": [{"sku": "A", "qty": 1.5, "price": 1}]}', b'{"items": [{"sku": "A", "qty": true, "price": 1}]}',
    b'{"items": [{"sku": "A", "qty": 0, "price": 1}]}', b'{"items": [{"sku": "A", "qty": -3, "price": 1}]}',
    b'{"items": [{"sku": "A", "qty": 1e400, "price": 1}]}', b'{"items": [{"sku": "A", "qty": 1, "price": "x"}]}',
    b'{"items": [{"sku": "A", "qty": 1, "price": NaN}]}', b'{"items": [{"sku": "A", "qty": 1, "price": Infinity}]}',
    b'{"items": [{"sku": "A", "qty": 1, "price": -1}]}', b'{"items": [{"sku": "A", "qty": 1, "price": 0.001}]}',
    b'{"items": [{"sku": "A", "qty": 1, "price": "1e999999"}]}', b'{"items": [{"sku": "A", "qty": 1, "price": []}]}',
    b'{"items": [{"sku": "A", "qty": 1, "price": null}]}', b'{"items": [{"sku": "A", "qty": 1, "price": false}]}',
    b'{"items": [{"sku": "' + b"x" * 65 + b'", "qty": 1, "price": 1}]}', b'{"items": [{"sku": "a\\nb", "qty": 1, "price": 1}]}',
    b'{"items": [{"sku": "A", "qty": 10000, "price": 99999999.99}, {"sku": "B", "qty": 10000, "price": 99999999.99}]}',
    json.dumps({"items": [{"sku": "A", "qty": 1, "price": 1}] * 101}).encode(), b"\xff\xfe", b'{"items": [',
]


def fuzzed(rng: random.Random) -> bytes:
    """A valid sale with one field broken at random: the property is "400, never 500"."""
    values = [None, True, -1, 0, 2**70, 1.5, "", "x" * 70, [], {}, "NaN", "1e999", -0.001, "\u0000"]
    item = {"sku": "OK", "qty": 1, "price": "1.00"}
    item[rng.choice(list(item))] = rng.choice(values)
    body = {"items": [item] * rng.randint(1, 3)}
    if rng.random() < 0.2:
        del body["items"][0][rng.choice(list(item))]
    return json.dumps(body).encode()


def test_malformed_sales_get_400_with_a_json_error_never_500(address):
    conn = http.client.HTTPSConnection(address("web1"), 443, context=tls_to_testbed(), timeout=10)
    rng = random.Random(20261126)
    bodies = MALFORMED + [fuzzed(rng) for _ in range(200)]
    wrong = []
    for body in bodies:
        conn.request("POST", "/sales", body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        answer = resp.read()
        valid = resp.status == 201
        if valid:  # a fuzzed body can come out valid (a field set to a good value): that is a sale
            continue
        if resp.status != 400 or "error" not in json.loads(answer):
            wrong.append((body[:80], resp.status, answer[:120]))
    assert wrong == []


def test_a_valid_sale_still_gets_201(address):
    assert all(i is not None for i in post_sales(address("web1"), 1))
