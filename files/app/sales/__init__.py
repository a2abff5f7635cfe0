"""A small sales app: the deploy's demo default (point app_source at your own).

Settings come from the environment (the deploy writes them to shared/app.env):
DATABASE_HOST, DATABASE_PORT, DATABASE_NAME, DATABASE_USER, DATABASE_PASSWORD,
REDIS_HOST, REDIS_PORT, REDIS_USER, REDIS_PASSWORD, and TLS_CA: the internal CA
both servers' certificates are checked against. The release id is read from the
RELEASE file the artifact carries next to the app.

Connections live as long as the worker: one TLS context per process, one
database connection per worker thread (pinged before use, opened again when it
died), one Redis pool per process. A request never pays for a TLS handshake
unless its connection had died.
"""

import json
import logging
import os
import random
import socket
import ssl
import threading
import time
from contextlib import contextmanager
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path

import pymysql
import redis
from flask import Flask, jsonify, request
from redis.backoff import NoBackoff
from redis.retry import Retry
from werkzeug.exceptions import HTTPException

log = logging.getLogger("sales")
CHECK_TIMEOUT = 0.8  # seconds per dependency: /health answers in under 2 s
TIMEOUT = 5  # seconds: connect, read and write of every other request
READ_ONLY = 1290  # ER_OPTION_PREVENTS_STATEMENT: the primary is frozen (a migration runs)
# A transaction the server rolled back for reasons of its own, which succeeds when run
# again: an online ALTER (the monthly optimize) changed the table under it, or a deadlock
# (an online schema change's triggers make concurrent sales deadlock now and then).
RESTART = {1412, 1213}  # ER_TABLE_DEF_CHANGED, ER_LOCK_DEADLOCK
ATTEMPTS = 5
# Before attempt n, a random wait of up to RESTART_WAIT * 2**n seconds: two sales that
# deadlocked, run again at once, would meet again (3 immediate attempts were not enough
# while an online change's triggers were in place: one sale in ~6,000 got a 503).
RESTART_WAIT = 0.005
MAX_ITEMS = 100
MAX_QTY = 10_000
MAX_PRICE = Decimal("99999999.99")  # sale_item.price is DECIMAL(12, 2)


@cache
def tls_context() -> ssl.SSLContext:
    """Built once per process: loading a CA is the expensive part of a handshake."""
    ctx = ssl.create_default_context(cafile=os.environ["TLS_CA"])  # the server's name and address checked
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


_local = threading.local()  # per worker thread: a connection serves one request at a time


def db(timeout=TIMEOUT) -> pymysql.Connection:
    """This thread's connection (one per timeout), alive: a ping first, and a new
    connection when it died (a server restart, wait_timeout)."""
    conns = _local.__dict__.setdefault("db", {})
    conn = conns.get(timeout)
    if conn is not None:
        try:
            conn.ping(reconnect=False)
            return conn
        except pymysql.Error:
            drop(conn)
    conns[timeout] = conn = pymysql.connect(
        host=os.environ["DATABASE_HOST"], port=int(os.environ.get("DATABASE_PORT", 3306)),
        user=os.environ["DATABASE_USER"], password=os.environ["DATABASE_PASSWORD"],
        database=os.environ["DATABASE_NAME"], connect_timeout=timeout, read_timeout=timeout,
        write_timeout=timeout, charset="utf8mb4", cursorclass=pymysql.cursors.DictCursor,
        autocommit=True,  # reads see the latest commit; writes say where their transaction is
        ssl=tls_context())
    return conn


def drop(conn: pymysql.Connection):
    try:
        conn.close()
    except pymysql.Error:
        pass  # closed already, or the server is gone: either way it is not used again


@contextmanager
def transaction():
    """A cursor in a transaction: committed at the end, rolled back on any error, so
    nothing carries over to the next request on this connection."""
    conn = db()
    conn.begin()
    try:
        with conn.cursor() as cur:
            yield cur
        conn.commit()
    except BaseException:
        try:
            conn.rollback()
        except pymysql.Error:
            drop(conn)  # the next request connects anew
        raise


@cache
def cache_client(timeout=TIMEOUT) -> redis.Redis:
    """One pool per process and timeout. The pool replaces a connection the server
    closed before handing it out; a request is retried once on a new connection
    (the health check never: its answer must be quick, and the truth)."""
    return redis.Redis(host=os.environ["REDIS_HOST"], port=int(os.environ.get("REDIS_PORT", 6379)),
                       username=os.environ.get("REDIS_USER"), password=os.environ.get("REDIS_PASSWORD"),
                       socket_timeout=timeout, socket_connect_timeout=timeout,
                       retry=Retry(NoBackoff(), 0 if timeout == CHECK_TIMEOUT else 1),
                       ssl=True, ssl_ca_certs=os.environ["TLS_CA"], ssl_check_hostname=True,
                       ssl_min_version=ssl.TLSVersion.TLSv1_2)


class Invalid(ValueError):
    """A request body that breaks the contract: a 400 with this message."""


def sale_items(body) -> list[tuple[str, int, Decimal]]:
    """``{"items": [{"sku": str, "qty": int, "price": number}, ...]}``, checked whole."""
    if not isinstance(body, dict):
        raise Invalid("the body must be a JSON object")
    items = body.get("items")
    if not isinstance(items, list) or not items:
        raise Invalid("items must be a non-empty list")
    if len(items) > MAX_ITEMS:
        raise Invalid(f"at most {MAX_ITEMS} items per sale")
    out = []
    for n, item in enumerate(items):
        if not isinstance(item, dict):
            raise Invalid(f"items[{n}] must be an object")
        sku, qty, price = item.get("sku"), item.get("qty"), item.get("price")
        if not isinstance(sku, str) or not 1 <= len(sku) <= 64 or not sku.isprintable():
            raise Invalid(f"items[{n}].sku must be a string of 1 to 64 printable characters")
        if isinstance(qty, bool) or not isinstance(qty, int) or not 1 <= qty <= MAX_QTY:
            raise Invalid(f"items[{n}].qty must be a whole number from 1 to {MAX_QTY}")
        try:
            if isinstance(price, bool) or not isinstance(price, (int, float, str)):
                raise InvalidOperation
            price = Decimal(str(price))
            if not price.is_finite() or not 0 <= price <= MAX_PRICE or price != price.quantize(Decimal("0.01")):
                raise InvalidOperation
        except InvalidOperation:
            raise Invalid(f"items[{n}].price must be a number from 0 to {MAX_PRICE} with at most 2 decimals") from None
        out.append((sku, qty, price))
    return out


def create_app():
    app = Flask(__name__)
    release_file = Path(__file__).resolve().parent.parent.parent / "RELEASE"
    release = release_file.read_text().strip() if release_file.exists() else "unknown"

    @app.errorhandler(HTTPException)
    def http_error(e):  # JSON, like every other answer
        return jsonify({"error": e.description}), e.code

    @app.errorhandler(Invalid)
    def invalid(e):
        return jsonify({"error": str(e)}), 400

    @app.errorhandler(pymysql.MySQLError)
    def frozen(e):
        # A write refused by a frozen primary was never committed: a 503, to which nginx
        # adds Retry-After and which clients retry (nginx never resends a POST itself).
        if e.args and (e.args[0] == READ_ONLY or e.args[0] in RESTART):
            return jsonify({"error": "writes are paused for a moment; retry"}), 503
        log.exception("database error")
        return jsonify({"error": "internal error"}), 500

    @app.get("/health")
    def health():
        """The real dependencies, on every call, with short timeouts: never from a cache."""
        status = {"release": release, "host": socket.gethostname()}
        try:
            with db(CHECK_TIMEOUT).cursor() as cur:
                cur.execute("SELECT 1")
            status["database"] = "connected"
        except Exception as e:  # reported, not raised: this endpoint says what is wrong
            status["database"] = f"error: {type(e).__name__}"
        try:
            cache_client(CHECK_TIMEOUT).ping()
            status["redis"] = "connected"
        except Exception as e:
            status["redis"] = f"error: {type(e).__name__}"
        healthy = status["database"] == "connected" and status["redis"] == "connected"
        status["status"] = "healthy" if healthy else "unhealthy"
        return jsonify(status), 200 if healthy else 503

    @app.get("/ready")
    def ready():
        return jsonify({"ready": True, "release": release})

    @app.post("/sales")
    def create_sale():
        items = sale_items(request.get_json(silent=True))
        total = sum(price * qty for _, qty, price in items)
        if total > Decimal("9999999999.99"):  # sale.total is DECIMAL(12, 2)
            raise Invalid("the sale's total is too large")
        for attempt in range(1, ATTEMPTS + 1):
            try:
                with transaction() as cur:
                    cur.execute("INSERT INTO sale (total) VALUES (%s)", (total,))
                    sale_id = cur.lastrowid
                    for sku, qty, price in items:
                        cur.execute("INSERT INTO sale_item (sale_id, sku, qty, price) VALUES (%s, %s, %s, %s)",
                                    (sale_id, sku, qty, price))
                        cur.execute("INSERT INTO stock_move (sku, delta, reason) VALUES (%s, %s, %s)",
                                    (sku, -qty, f"sale {sale_id}"))
                break
            except pymysql.MySQLError as e:  # rolled back: nothing of it was committed
                if not (e.args and e.args[0] in RESTART) or attempt == ATTEMPTS:
                    raise
                log.warning("sale transaction restarted (attempt %d): %s", attempt, e.args[0])
                time.sleep(random.uniform(0, RESTART_WAIT * 2 ** attempt))
        try:
            cache_client().delete("sales:summary")
        except redis.RedisError as e:  # the sale is committed: never a 500 for it; the entry expires by itself
            log.warning("summary cache not invalidated: %s", type(e).__name__)
        return jsonify({"id": sale_id, "total": str(total)}), 201

    @app.get("/sales/<int:sale_id>")
    def get_sale(sale_id):
        with db().cursor() as cur:
            cur.execute("SELECT id, total, created_at FROM sale WHERE id = %s", (sale_id,))
            sale = cur.fetchone()
            if not sale:
                return jsonify({"error": f"no sale {sale_id}"}), 404
            cur.execute("SELECT sku, qty, price FROM sale_item WHERE sale_id = %s", (sale_id,))
            sale["items"] = cur.fetchall()
        return app.response_class(json.dumps(sale, default=str), mimetype="application/json")

    @app.get("/sales/summary")
    def summary():
        """From Redis when it can; from MariaDB when Redis is down (a cache, not a dependency)."""
        try:
            cached, cache_state = cache_client().get("sales:summary"), "miss"
        except redis.RedisError as e:
            log.warning("summary cache unavailable: %s", type(e).__name__)
            cached, cache_state = None, "unavailable"
        if cached:
            return app.response_class(cached, mimetype="application/json", headers={"X-Cache": "hit"})
        with db().cursor() as cur:
            cur.execute("SELECT COUNT(*) AS sales, COALESCE(SUM(total), 0) AS revenue FROM sale")
            body = json.dumps({**cur.fetchone(), "at": time.time()}, default=str)
        if cache_state == "miss":
            try:
                cache_client().setex("sales:summary", 60, body)
            except redis.RedisError as e:
                log.warning("summary not cached: %s", type(e).__name__)
        return app.response_class(body, mimetype="application/json", headers={"X-Cache": cache_state})

    return app
