"""GET/PUT /products/{id}: cache-aside, X-Cache, ETag and 304, negative caching, invalidation."""

from __future__ import annotations

import httpx
import pytest
from tests.shop.conftest import OpenShop

pytestmark = pytest.mark.anyio


async def _login(client: httpx.AsyncClient, user: str, password: str) -> None:
    response = await client.post("/login", json={"username": user, "password": password})
    assert response.status_code == 200, response.text


async def test_miss_then_hit_with_one_query(open_shop: OpenShop) -> None:
    """The first GET runs the slow query (MISS); the second is served from Valkey (HIT)."""
    async with open_shop() as (shop, client):
        first = await client.get("/products/7")
        second = await client.get("/products/7")
        queries = shop.db.queries
        stored = shop.db.get(7)
    assert (first.status_code, second.status_code) == (200, 200)
    assert first.headers["X-Cache"] == "MISS"
    assert second.headers["X-Cache"] == "HIT"
    assert first.json() == second.json() == stored
    assert queries == 1
    assert first.headers["ETag"] == second.headers["ETag"]
    assert "valkey;dur=" in second.headers["Server-Timing"]


async def test_if_none_match_gives_304_only_for_the_current_etag(open_shop: OpenShop) -> None:
    """A matching If-None-Match is 304 with no body; another ETag gets the full 200."""
    async with open_shop() as (_, client):
        etag = (await client.get("/products/3")).headers["ETag"]
        same = await client.get("/products/3", headers={"If-None-Match": etag})
        listed = await client.get("/products/3", headers={"If-None-Match": f'"x", W/{etag}'})
        other = await client.get("/products/3", headers={"If-None-Match": '"not-it"'})
    assert same.status_code == 304
    assert same.content == b""
    assert same.headers["ETag"] == etag
    assert listed.status_code == 304
    assert other.status_code == 200
    assert other.json()["id"] == 3


async def test_unknown_id_is_404_and_negatively_cached(open_shop: OpenShop) -> None:
    """An unknown id is 404; the second ask is a HIT that does not reach the database."""
    async with open_shop() as (shop, client):
        first = await client.get("/products/99999")
        second = await client.get("/products/99999")
    assert (first.status_code, second.status_code) == (404, 404)
    assert (first.headers["X-Cache"], second.headers["X-Cache"]) == ("MISS", "HIT")
    assert shop.db.queries == 1


async def test_put_invalidates_so_the_next_get_is_a_miss_with_new_data(
    open_shop: OpenShop,
) -> None:
    """An admin's PUT writes the database, invalidates the tag; the next GET is fresh."""
    async with open_shop() as (_, client):
        before = await client.get("/products/5")
        await client.get("/products/5")
        await _login(client, "alice", "wonderland")
        put = await client.put("/products/5", json={"price": 12.5, "name": "Blue teapot"})
        after = await client.get("/products/5")
        revalidate = await client.get(
            "/products/5", headers={"If-None-Match": before.headers["ETag"]}
        )
    assert put.status_code == 200
    assert put.json()["cache"] == "invalidated"
    assert after.headers["X-Cache"] == "MISS"
    assert after.json() == {"id": 5, "name": "Blue teapot", "price": 12.5}
    assert after.headers["ETag"] != before.headers["ETag"]
    assert after.headers["ETag"] == put.headers["ETag"]
    assert revalidate.status_code == 200  # the old ETag no longer matches


async def test_put_needs_an_admin_and_changes_nothing_otherwise(open_shop: OpenShop) -> None:
    """Anonymous PUT is 401, bob's is 403; the cached entry stays a HIT and unchanged."""
    async with open_shop() as (_, client):
        original = (await client.get("/products/2")).json()
        anonymous = await client.put("/products/2", json={"price": 1})
        await _login(client, "bob", "builder")
        bob = await client.put("/products/2", json={"price": 1})
        again = await client.get("/products/2")
    assert (anonymous.status_code, bob.status_code) == (401, 403)
    assert again.headers["X-Cache"] == "HIT"
    assert again.json() == original


async def test_put_of_an_unknown_product_is_404(open_shop: OpenShop) -> None:
    """PUT never creates a product."""
    async with open_shop() as (_, client):
        await _login(client, "alice", "wonderland")
        response = await client.put("/products/123456", json={"price": 3})
    assert response.status_code == 404


async def test_cache_off_always_misses(open_shop: OpenShop) -> None:
    """With the cache off (the load test's baseline) every GET reaches the database."""
    from valkey_redis.shop import Settings

    async with open_shop(Settings(cache=False)) as (shop, client):
        answers = [await client.get("/products/1") for _ in range(3)]
    assert [a.headers["X-Cache"] for a in answers] == ["MISS"] * 3
    assert shop.db.queries == 3


async def test_views_reach_the_database_through_write_behind(open_shop: OpenShop) -> None:
    """Each served GET queues one view; the worker adds them to the database exactly once."""
    async with open_shop() as (shop, client):
        for _ in range(4):
            await client.get("/products/9")
        await client.get("/products/10")
        await shop.views.flush()
        assert await shop.views.backlog() == 0
        assert shop.db.views(9) == 4
        assert shop.db.views(10) == 1
