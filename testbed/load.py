"""Bounded HTTPS load from the controller to the testbed's nginx, for the e2e
tests and bench/: it stops by itself after ``max_seconds``, and counts every
failed request.

    with Load(address, rate=60) as load:                 # steady GET /ready
        ...
    with Load(address, requests=[("POST", "/sales", body)], rate=None, workers=4) as load:
        ...                                              # as fast as 4 clients go

Each request is recorded as (started, seconds, status or error), ``started`` on
the controller's monotonic clock, so a test can ask what failed when; the id of
every sale a 201 acknowledged is kept, so a test can look for its row.
"""

from __future__ import annotations

import http.client
import itertools
import json
import ssl
import threading
import time


def tls_to_testbed() -> ssl.SSLContext:
    """A client context for the testbed's nginx, whose certificate is self-signed."""
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    return ctx


class Load:
    def __init__(self, host: str, path: str = "/ready", rate: float | None = 60, workers: int = 16,
                 max_seconds: float = 600, requests: list[tuple[str, str, bytes | None]] | None = None,
                 ok: tuple[int, ...] = (200, 201), settle: float = 1):
        """``requests``: (method, path, body) taken in turn (default: GET ``path``);
        ``rate``: requests per second over all workers, None for as fast as they go."""
        self.host, self.rate, self.workers, self.max_seconds = host, rate, workers, max_seconds
        self.requests = requests or [("GET", path, None)]
        self.ok_statuses, self.settle = ok, settle
        self.records: list[tuple[float, float, int | str]] = []
        self.created: list[int] = []  # the ids of the sales a 201 acknowledged
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._turn = itertools.cycle(range(len(self.requests)))

    @property
    def ok(self) -> int:
        return sum(1 for r in self.records if r[2] in self.ok_statuses)

    @property
    def failures(self) -> list[str]:
        return [str(r[2]) for r in self.records if r[2] not in self.ok_statuses]

    def _worker(self):
        ctx = tls_to_testbed()
        interval = self.workers / self.rate if self.rate else 0
        conn = None
        deadline = time.monotonic() + self.max_seconds
        while not self._stop.is_set() and time.monotonic() < deadline:
            with self._lock:
                method, path, body = self.requests[next(self._turn)]
            started = time.monotonic()
            try:
                conn = conn or http.client.HTTPSConnection(self.host, 443, context=ctx, timeout=10)
                conn.request(method, path, body=body,
                             headers={"Content-Type": "application/json"} if body is not None else {})
                resp = conn.getresponse()
                text = resp.read()
                outcome: int | str = resp.status if resp.status in self.ok_statuses else \
                    f"{resp.status} {method} {path} retry-after={resp.getheader('Retry-After')} {text[:120]!r}"
                if resp.status == 201:
                    with self._lock:
                        self.created.append(json.loads(text)["id"])
            except Exception as e:  # every kind of failure is a failed request
                outcome, conn = f"{method} {path} {e!r}", None
            with self._lock:
                self.records.append((started, time.monotonic() - started, outcome))
            time.sleep(max(0.0, interval - (time.monotonic() - started)))

    def __enter__(self):
        self.started = time.monotonic()
        self._threads = [threading.Thread(target=self._worker, daemon=True) for _ in range(self.workers)]
        for t in self._threads:
            t.start()
        time.sleep(self.settle)  # steady before the thing under test starts
        return self

    def __exit__(self, *exc):
        time.sleep(self.settle)
        self._stop.set()
        for t in self._threads:
            t.join()
        self.seconds = time.monotonic() - self.started
        self.rps = len(self.records) / self.seconds

    def failed_between(self, start: float, end: float) -> list[str]:
        return [str(r[2]) for r in self.records if start <= r[0] < end and r[2] not in self.ok_statuses]

    def percentile(self, p: float) -> float:
        latencies = sorted(r[1] for r in self.records)
        return latencies[min(len(latencies) - 1, int(len(latencies) * p / 100))] if latencies else float("nan")
