# gunicorn settings shipped with the app. The socket comes from systemd
# (sales.socket), so a restart never refuses a connection: the kernel queues them.
import multiprocessing
import os

workers = min(4, multiprocessing.cpu_count() * 2 + 1)
worker_class = "sync"
timeout = 60
graceful_timeout = 30
max_requests = 2000  # recycle workers: bounds slow leaks
max_requests_jitter = 200
accesslog = "-"
errorlog = "-"

UNITS = {"K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def size(text: str) -> int:
    """Bytes of a size in systemd's form (1G, 512M, or bytes)."""
    text = text.strip().upper()
    return int(text[:-1]) * UNITS[text[-1]] if text[-1:] in UNITS else int(text)


# Seed 003: the app restarts past its memory limit (APP_MEMORY_MAX, the unit's
# MemoryMax). Each worker gets an equal share of 90 % of it (the rest: the master and
# headroom); one past its share finishes its request, then exits and the master forks
# a fresh one, so no request fails. The kernel's MemoryMax is only the backstop.
memory_max = size(os.environ.get("APP_MEMORY_MAX") or "0")
worker_memory_max = int(memory_max * 0.9 / workers)


def resident_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def post_request(worker, req, environ, resp):
    used = resident_bytes()
    if worker_memory_max and used > worker_memory_max and worker.alive:
        worker.log.warning("worker %s uses %d MiB, past its share of %d MiB: replaced after this request",
                           worker.pid, used >> 20, worker_memory_max >> 20)
        worker.alive = False  # as gunicorn's own max_requests does: the loop ends after this request
