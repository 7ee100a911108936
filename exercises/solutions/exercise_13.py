"""Exercise 13 — the web shop: cache a slow endpoint, over HTTP (reference solution).

A product page is read far more often than it changes: keep its JSON in Valkey
with a TTL, say in ``X-Cache`` whether the database was asked, and give browsers
an ETag computed from the JSON so that an unchanged page costs them a ``304``.
A price change writes the database first and drops the cached copy second. An
order history belongs to one user: it is cached under that user's own key, and
``Cache-Control: private`` keeps shared proxies from handing it to anyone else.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import redis
from fastapi import Response
from fastapi.responses import JSONResponse

from valkey_redis.shop.exercise import ShopData

TTL = 300  # seconds a cached answer lives


def _body(value: Any) -> str:
    # One canonical JSON text: the same content always gives the same bytes (and ETag).
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _etag(body: str) -> str:
    return '"' + hashlib.sha256(body.encode()).hexdigest()[:32] + '"'


def get_product(client: redis.Redis, db: ShopData, pid: int, if_none_match: str | None) -> Response:
    """GET /products/{pid}: cache-aside at ``product:{pid}``, X-Cache, ETag and 304."""
    key = f"product:{pid}"
    body = client.get(key)
    cache = "HIT"
    if body is None:
        cache = "MISS"
        product = db.get(pid)
        if product is None:
            return JSONResponse(
                {"detail": "not found"}, status_code=404, headers={"X-Cache": cache}
            )
        body = _body(product)
        client.set(key, body, ex=TTL)
    headers = {"X-Cache": cache, "ETag": _etag(str(body))}
    wanted = {tag.strip().removeprefix("W/") for tag in (if_none_match or "").split(",")}
    if headers["ETag"] in wanted:
        return Response(status_code=304, headers=headers)
    return Response(str(body), media_type="application/json", headers=headers)


def update_price(client: redis.Redis, db: ShopData, pid: int, price: float) -> Response:
    """PUT /products/{pid}: the database first, then drop ``product:{pid}``."""
    # Deleting first would let a reader cache the old price again before the write.
    if not db.set_price(pid, price):
        return JSONResponse({"detail": "not found"}, status_code=404)
    client.delete(f"product:{pid}")
    return JSONResponse({"id": pid, "price": price})


def my_orders(client: redis.Redis, db: ShopData, user: str) -> Response:
    """GET /orders: the user's orders, cached under a key of their own, private."""
    key = f"orders:{json.dumps(user)}"  # the user's name quoted: no two users share a key
    body = client.get(key)
    cache = "HIT"
    if body is None:
        cache = "MISS"
        body = _body(db.orders(user))
        client.set(key, body, ex=TTL)
    headers = {"X-Cache": cache, "Cache-Control": "private, max-age=0"}
    return Response(str(body), media_type="application/json", headers=headers)
