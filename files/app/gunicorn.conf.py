# gunicorn settings shipped with the app. The socket comes from systemd
# (sales.socket), so a restart never refuses a connection: the kernel queues them.
import multiprocessing

workers = min(4, multiprocessing.cpu_count() * 2 + 1)
worker_class = "sync"
timeout = 60
graceful_timeout = 30
max_requests = 2000  # recycle workers: bounds slow leaks
max_requests_jitter = 200
accesslog = "-"
errorlog = "-"
