"""A small sales app: the deploy's demo default (point app_source at your own).

Settings come from the environment (the deploy writes them to shared/app.env):
DATABASE_HOST, DATABASE_PORT, DATABASE_NAME, DATABASE_USER, DATABASE_PASSWORD,
REDIS_HOST, REDIS_PORT, REDIS_PASSWORD. The release id is read from the
RELEASE file the artifact carries next to the app.
"""

import json
import os
import socket
import time
from decimal import Decimal
from pathlib import Path

import pymysql
import redis
from flask import Flask, abort, jsonify, request

CHECK_TIMEOUT = 0.8  # seconds per dependency: /health answers in under 2 s


def db(timeout=5):
    return pymysql.connect(
        host=os.environ["DATABASE_HOST"], port=int(os.environ.get("DATABASE_PORT", 3306)),
        user=os.environ["DATABASE_USER"], password=os.environ["DATABASE_PASSWORD"],
        database=os.environ["DATABASE_NAME"], connect_timeout=timeout, read_timeout=timeout,
        write_timeout=timeout, charset="utf8mb4", cursorclass=pymysql.cursors.DictCursor)


def cache(timeout=2):
    return redis.Redis(host=os.environ["REDIS_HOST"], port=int(os.environ.get("REDIS_PORT", 6379)),
                       password=os.environ.get("REDIS_PASSWORD"), socket_timeout=timeout,
                       socket_connect_timeout=timeout)


def create_app():
    app = Flask(__name__)
    release_file = Path(__file__).resolve().parent.parent.parent / "RELEASE"
    release = release_file.read_text().strip() if release_file.exists() else "unknown"

    @app.get("/health")
    def health():
        status = {"release": release, "host": socket.gethostname()}
        try:
            with db(CHECK_TIMEOUT) as conn, conn.cursor() as cur:
                cur.execute("SELECT 1")
            status["database"] = "connected"
        except Exception as e:  # reported, not raised: this endpoint says what is wrong
            status["database"] = f"error: {type(e).__name__}"
        try:
            cache(CHECK_TIMEOUT).ping()
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
        items = (request.get_json(silent=True) or {}).get("items") or abort(400, "items required")
        with db() as conn, conn.cursor() as cur:
            total = sum(Decimal(str(i["price"])) * int(i["qty"]) for i in items)
            cur.execute("INSERT INTO sale (total) VALUES (%s)", (total,))
            sale_id = cur.lastrowid
            for i in items:
                cur.execute("INSERT INTO sale_item (sale_id, sku, qty, price) VALUES (%s, %s, %s, %s)",
                            (sale_id, i["sku"], int(i["qty"]), Decimal(str(i["price"]))))
                cur.execute("INSERT INTO stock_move (sku, delta, reason) VALUES (%s, %s, %s)",
                            (i["sku"], -int(i["qty"]), f"sale {sale_id}"))
            conn.commit()
        cache().delete("sales:summary")
        return jsonify({"id": sale_id, "total": str(total)}), 201

    @app.get("/sales/<int:sale_id>")
    def get_sale(sale_id):
        with db() as conn, conn.cursor() as cur:
            cur.execute("SELECT id, total, created_at FROM sale WHERE id = %s", (sale_id,))
            sale = cur.fetchone() or abort(404)
            cur.execute("SELECT sku, qty, price FROM sale_item WHERE sale_id = %s", (sale_id,))
            sale["items"] = cur.fetchall()
        return app.response_class(json.dumps(sale, default=str), mimetype="application/json")

    @app.get("/sales/summary")
    def summary():
        r = cache()
        cached = r.get("sales:summary")
        if cached:
            return app.response_class(cached, mimetype="application/json", headers={"X-Cache": "hit"})
        with db() as conn, conn.cursor() as cur:
            cur.execute("SELECT COUNT(*) AS sales, COALESCE(SUM(total), 0) AS revenue FROM sale")
            body = json.dumps({**cur.fetchone(), "at": time.time()}, default=str)
        r.setex("sales:summary", 60, body)
        return app.response_class(body, mimetype="application/json", headers={"X-Cache": "miss"})

    return app
