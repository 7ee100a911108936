"""Exercise 13 written differently: write-through on update, a weak MD5 ETag, keys.join.

Still correct: the update writes the database first and then *stores* the new row
(rather than deleting it), the ETag is weak (``W/"..."``) but still derived from
the bytes sent only, and the per-user key is built with ``valkey_redis.keys``.
"""

from __future__ import annotations

import hashlib
import json

import redis
from fastapi import Response
from fastapi.responses import JSONResponse

from valkey_redis.keys import join
from valkey_redis.shop.exercise import ShopData

TTL = 300


def _text(value: object) -> str:
    return json.dumps(value, sort_keys=True)


def get_product(client: redis.Redis, db: ShopData, pid: int, if_none_match: str | None) -> Response:
    """Cache-aside with a weak ETag."""
    text = client.get(f"product:{pid}")
    source = "HIT" if text is not None else "MISS"
    if text is None:
        product = db.get(pid)
        if product is None:
            return Response(status_code=404, headers={"X-Cache": source})
        text = _text(product)
        client.set(f"product:{pid}", text, ex=TTL)
    etag = 'W/"' + hashlib.md5(str(text).encode(), usedforsecurity=False).hexdigest() + '"'
    headers = {"ETag": etag, "X-Cache": source}
    offered = [t.strip() for t in (if_none_match or "").split(",")]
    if etag in offered or etag.removeprefix("W/") in offered:
        return Response(status_code=304, headers=headers)
    return Response(str(text), media_type="application/json", headers=headers)


def update_price(client: redis.Redis, db: ShopData, pid: int, price: float) -> Response:
    """Write-through: the database, then the new row into the cache."""
    if not db.set_price(pid, price):
        return JSONResponse({"detail": "no such product"}, status_code=404)
    product = db.get(pid)
    client.set(f"product:{pid}", _text(product), ex=TTL)
    return JSONResponse({"id": pid, "price": price})


def my_orders(client: redis.Redis, db: ShopData, user: str) -> Response:
    """Per-user entries through keys.join."""
    key = join("orders", user)
    text = client.get(key)
    source = "HIT"
    if text is None:
        source, text = "MISS", _text(db.orders(user))
        client.set(key, text, ex=TTL)
    return Response(
        str(text),
        media_type="application/json",
        headers={"X-Cache": source, "Cache-Control": "private"},
    )
