"""GET /metrics, GET /healthz, GET / (the page), and the shop with Valkey down."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families
from tests.shop.conftest import OpenShop, client_for

from valkey_redis.server import EmbeddedValkey, free_port
from valkey_redis.shop import Settings, Valkey, create_app
from valkey_redis.shop.state import Shop

pytestmark = pytest.mark.anyio


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[sample.name, tuple(sorted(sample.labels.items()))] = sample.value
    return found


async def test_metrics_count_what_happened(open_shop: OpenShop) -> None:
    """Hits, misses, limiter decisions, lock waits, checkouts, backlog and breaker are exported."""
    async with open_shop() as (shop, client):
        await client.get("/products/1")
        await client.get("/products/1")
        await client.get("/products/2")
        await client.post("/login", json={"username": "bob", "password": "builder"})
        await client.post("/checkout", json={"items": {"1": 1}})
        await shop.views.flush()
        response = await client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    got = _samples(response.text)
    assert got["shop_cache_lookups_total", (("result", "hit"),)] == 1
    assert got["shop_cache_lookups_total", (("result", "miss"),)] == 2
    assert got["shop_db_queries", ()] == 2
    assert got["shop_cache_errors", ()] == 0
    # 6 requests before /metrics itself: 4 anonymous, then 1 as bob, then /metrics as bob.
    assert got["shop_ratelimit_decisions_total", (("decision", "allowed"), ("policy", "addr"))] == 6
    assert got["shop_ratelimit_decisions_total", (("decision", "allowed"), ("policy", "user"))] == 2
    assert got["shop_checkouts_total", (("outcome", "accepted"),)] == 1
    assert got["shop_checkout_lock_wait_seconds_count", ()] == 1
    assert got["shop_writebehind_backlog", ()] == 0
    assert ("shop_breaker_state", (("state", "open"),)) in got


async def test_healthz_says_valkey_is_up(open_shop: OpenShop) -> None:
    """/healthz is 200 with Valkey's state and the breaker's."""
    async with open_shop() as (_, client):
        response = await client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["valkey"]) == ("ok", "up")
    assert body["breaker"] in {"closed", "none"}  # fakeredis clients have no breaker


async def test_home_page_lists_products_requests_and_keyspace(open_shop: OpenShop) -> None:
    """The page shows the products, each request's hit/miss and time, and keys with TTLs."""
    async with open_shop() as (shop, client):
        await client.get("/products/4")
        await client.get("/products/4")
        page = await client.get("/")
        name = shop.db.get(4)["name"]
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert name in html
    assert "<code>GET /products/4</code>" in html
    assert 'class="MISS">MISS' in html
    assert 'class="HIT">HIT' in html
    assert " ms</td>" in html
    assert "shop.product:{#4}" in html  # the cache entry, with its type and TTL
    assert "1 hits" in html


@pytest.mark.real
async def test_home_page_uses_scan_never_keys(valkey_server: EmbeddedValkey) -> None:
    """Rendering the keyspace sends SCAN to the server and never KEYS."""
    admin = redis.Redis.from_url(valkey_server.url, decode_responses=True)
    admin.flushall()
    admin.config_resetstat()
    app = create_app(Settings(), Valkey.connect(valkey_server.url, "Valkey"))
    async with app.router.lifespan_context(app), client_for(app) as client:
        await client.get("/products/1")
        await client.get("/")
    stats = admin.info("commandstats")
    admin.close()
    assert "cmdstat_scan" in stats
    assert "cmdstat_keys" not in stats


@asynccontextmanager
async def _shop_without_valkey() -> AsyncIterator[tuple[Shop, httpx.AsyncClient]]:
    dead = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    app = create_app(Settings(), Valkey.connect(dead, "nothing"))
    async with app.router.lifespan_context(app), client_for(app) as client:
        yield app.state.shop, client


async def test_the_shop_stays_up_with_valkey_down() -> None:
    """No Valkey: healthz 200 'down', products served from the database, limits fail open."""
    async with _shop_without_valkey() as (shop, client):
        health = await client.get("/healthz")
        product = await client.get("/products/1")
        page = await client.get("/")
        metrics = _samples((await client.get("/metrics")).text)
        later = await client.get("/healthz")
        queries = shop.db.queries
    assert health.status_code == 200
    assert health.json()["valkey"] == "down"
    assert product.status_code == 200
    assert product.headers["X-Cache"] == "MISS"
    assert queries == 1
    assert page.status_code == 200
    assert "Valkey unreachable" in page.text
    assert (
        metrics["shop_ratelimit_decisions_total", (("decision", "fallback"), ("policy", "addr"))]
        >= 3
    )
    assert metrics["shop_views_unsent", ()] == 1  # kept in memory until Valkey is back
    assert metrics["shop_breaker_state", (("state", "open"),)] == 1  # refused: it opened
    assert later.json()["breaker"] == "open"
    assert later.json()["breaker_opened"] >= 1


async def test_what_needs_valkey_answers_503_when_it_is_down() -> None:
    """Login and checkout refuse with 503 rather than pretending."""
    async with _shop_without_valkey() as (_, client):
        login = await client.post("/login", json={"username": "bob", "password": "builder"})
        client.cookies.set("sid", "abcd." + "A" * 43)
        me = await client.get("/me")
    assert login.status_code == 503
    assert me.status_code == 503
