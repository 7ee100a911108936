"""``GET /products/{id}`` (cache-aside, ETag, 304) and ``PUT /products/{id}`` (invalidate by tag).

Use: the cache sits in front of the slow product query; ``X-Cache`` says whether
this request ran it (``MISS``) or not (``HIT``). The ETag is a hash of the JSON
body, so it changes exactly when the content does; ``If-None-Match`` with the
current ETag gets ``304`` and no body. Unknown ids are cached as "not found" too.

Not for: per-user data (the entry is shared by every user).

How it fails: with Valkey down every GET is a MISS served from the database
(slower, correct); its view is counted in memory and queued once Valkey is
back. A PUT writes the database *first*, then invalidates; if the invalidation cannot
reach Valkey the answer says so (``"cache": "stale"``) and the old entry lives
at most its TTL.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

import redis
from fastapi import APIRouter, Depends, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from valkey_redis.keys import canonical_json
from valkey_redis.shop.auth import require_admin
from valkey_redis.shop.state import Shop, shop_of

__all__ = ["etag_of", "matches", "router"]

router = APIRouter()
ShopDep = Annotated[Shop, Depends(shop_of)]


class ProductChange(BaseModel):
    """The fields a PUT may change."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    price: float | None = Field(default=None, gt=0, lt=1_000_000)


def etag_of(product: dict[str, Any]) -> str:
    """A strong ETag derived from the product's content (and nothing else)."""
    return '"' + hashlib.sha256(canonical_json(product).encode()).hexdigest()[:24] + '"'


def matches(if_none_match: str | None, etag: str) -> bool:
    """True when an ``If-None-Match`` header names ``etag`` (weak compare, lists, ``*``)."""
    if not if_none_match:
        return False
    wanted = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in wanted or etag in wanted


@router.get("/products/{pid}")
async def get_product(pid: int, request: Request, shop: ShopDep) -> Response:
    """The product as JSON, from the cache when it can."""
    if shop.settings.cache:
        product, hit = await shop.cache.get(pid, lambda: shop.find(pid))
        shop.metrics.cache.labels(result="hit" if hit else "miss").inc()
    else:
        product, hit = await shop.find(pid), False
    headers = {"X-Cache": "HIT" if hit else "MISS"}
    if product is None:
        return JSONResponse({"detail": f"no product {pid}"}, status_code=404, headers=headers)
    headers["ETag"] = etag_of(product)
    headers["Cache-Control"] = "no-cache"
    shop.views.record(pid)
    if matches(request.headers.get("If-None-Match"), headers["ETag"]):
        return Response(status_code=304, headers=headers)
    return JSONResponse(product, headers=headers)


@router.put("/products/{pid}")
async def put_product(
    pid: int, change: ProductChange, request: Request, shop: ShopDep
) -> JSONResponse:
    """Admin only: write the database, then drop every cached entry tagged with the product."""
    require_admin(request)
    product = await shop.db_call(shop.db.update, pid, name=change.name, price=change.price)
    if product is None:
        raise HTTPException(404, f"no product {pid}")
    try:
        await shop.cache.invalidate(pid)
        state = "invalidated"
    except redis.RedisError:
        state = (
            f"stale: Valkey unreachable, the old entry lives up to {shop.settings.cache_ttl:g} s"
        )
    return JSONResponse({"product": product, "cache": state}, headers={"ETag": etag_of(product)})
