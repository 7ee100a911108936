"""``GET /``, ``GET /metrics``, ``GET /healthz``: what the shop is doing, for people and machines.

Use: ``/`` is a server-rendered page (Jinja2): the products, the last requests
with hit/miss and time, and the keyspace (keys, types, TTLs; found with SCAN,
never KEYS). ``/metrics`` is the Prometheus text format; ``/healthz`` answers
200 while the app serves, with Valkey's reachability and the breaker's state.

Not for: exposing to the internet as is (the keyspace view shows key names).

How it fails: with Valkey down, ``/`` shows an empty keyspace and says why,
``/metrics`` keeps the last backlog figure, and ``/healthz`` still answers 200.
"""

from __future__ import annotations

import contextlib
from importlib import resources
from typing import Annotated, Any

import redis
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import HTMLResponse
from jinja2 import Environment, select_autoescape

from valkey_redis.shop.metrics import CONTENT_TYPE_LATEST
from valkey_redis.shop.state import Shop, shop_of

__all__ = ["router"]

router = APIRouter()
ShopDep = Annotated[Shop, Depends(shop_of)]
_TEMPLATES = Environment(autoescape=select_autoescape(default=True), auto_reload=False)
_INDEX = _TEMPLATES.from_string(
    (resources.files("valkey_redis.shop") / "templates" / "index.html").read_text()
)


@router.get("/", response_class=HTMLResponse)
async def index(request: Request, shop: ShopDep) -> HTMLResponse:
    """The shop's front page."""
    products = await shop.db_call(shop.db.listing, 30)
    try:
        keyspace, keyspace_error = await shop.valkey.keyspace(200), None
    except redis.RedisError as exc:
        keyspace, keyspace_error = [], f"Valkey unreachable: {exc}"
    hits, misses = shop.metrics.cache_counts()
    page = _INDEX.render(
        products=products,
        recent=list(shop.recent),
        keyspace=keyspace,
        keyspace_error=keyspace_error,
        server=shop.valkey.description,
        user=request.state.user,
        hits=hits,
        misses=misses,
        queries=shop.db.queries,
    )
    return HTMLResponse(page)


@router.get("/metrics")
async def metrics(shop: ShopDep) -> Response:
    """Every counter, gauge and histogram of the shop."""
    m = shop.metrics
    with contextlib.suppress(redis.RedisError):  # keep the last figure
        m.backlog.set(await shop.views.backlog())
    m.views_unsent.set(shop.views.unsent)
    m.cache_errors.set(shop.cache.errors)
    m.db_queries.set(shop.db.queries)
    m.set_breaker(shop.valkey.breaker_state())
    return Response(m.render(), media_type=CONTENT_TYPE_LATEST)


@router.get("/healthz")
async def healthz(shop: ShopDep) -> dict[str, Any]:
    """200 while the app serves; says whether Valkey answers and the breaker's state."""
    up = await shop.valkey.ping()
    snapshot = shop.valkey.breaker_snapshot()
    return {
        "status": "ok",
        "valkey": "up" if up else "down",
        "breaker": snapshot.state if snapshot else "none",
        "breaker_opened": snapshot.opened if snapshot else 0,
        "breaker_rejected": snapshot.rejected if snapshot else 0,
        "server": shop.valkey.description,
    }
