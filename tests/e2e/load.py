"""A steady HTTPS load from the controller to the testbed's nginx, counting every
failed request. Bounded: it stops by itself after ``max_seconds``."""

import http.client
import ssl
import threading
import time


class Load:
    def __init__(self, host: str, path: str = "/ready", rate: float = 60, workers: int = 16,
                 max_seconds: float = 600):
        self.host, self.path, self.rate, self.workers, self.max_seconds = host, path, rate, workers, max_seconds
        self.ok = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()

    def _worker(self):
        ctx = ssl.create_default_context()
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE  # the testbed's self-signed cert
        interval = self.workers / self.rate
        conn = None
        deadline = time.monotonic() + self.max_seconds
        while not self._stop.is_set() and time.monotonic() < deadline:
            started = time.monotonic()
            try:
                conn = conn or http.client.HTTPSConnection(self.host, 443, context=ctx, timeout=10)
                conn.request("GET", self.path)
                resp = conn.getresponse()
                body = resp.read()
                with self._lock:
                    if resp.status == 200:
                        self.ok += 1
                    else:
                        self.failures.append(f"{resp.status} {body[:120]!r}")
            except Exception as e:  # every kind of failure is a failed request
                with self._lock:
                    self.failures.append(repr(e))
                conn = None
            time.sleep(max(0.0, interval - (time.monotonic() - started)))

    def __enter__(self):
        self.started = time.monotonic()
        self._threads = [threading.Thread(target=self._worker, daemon=True) for _ in range(self.workers)]
        for t in self._threads:
            t.start()
        time.sleep(1)  # steady before the thing under test starts
        return self

    def __exit__(self, *exc):
        time.sleep(1)
        self._stop.set()
        for t in self._threads:
            t.join()
        self.seconds = time.monotonic() - self.started
        self.rps = (self.ok + len(self.failures)) / self.seconds
