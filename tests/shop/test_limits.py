"""Rate limits on every route, per client address and per user: IETF headers, 429 + Retry-After."""

from __future__ import annotations

import pytest
from tests.shop.conftest import OpenShop, app_of, client_for

from valkey_redis.shop import Settings

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("path", ["/products/1", "/", "/healthz", "/metrics", "/me"])
async def test_every_route_counts_and_says_so(open_shop: OpenShop, path: str) -> None:
    """Each route carries RateLimit-Policy and a RateLimit whose remaining count drops."""
    async with open_shop(Settings(rate_limit=(5, 60))) as (_, client):
        first = await client.get(path)
        second = await client.get(path)
    assert first.headers["RateLimit-Policy"] == '"addr";q=5;w=60'
    assert first.headers["RateLimit"].startswith('"addr";r=4;t=')
    assert second.headers["RateLimit"].startswith('"addr";r=3;t=')


async def test_over_the_limit_is_429_with_retry_after(open_shop: OpenShop) -> None:
    """The N+1th request in the window is refused with 429, Retry-After and r=0."""
    async with open_shop(Settings(rate_limit=(3, 60))) as (shop, client):
        allowed = [await client.get("/products/1") for _ in range(3)]
        refused = await client.get("/products/1")
        queries = shop.db.queries
    assert [r.status_code for r in allowed] == [200, 200, 200]
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.headers["RateLimit"].startswith('"addr";r=0;t=')
    assert queries == 1  # a refused request never reaches the route


async def test_addresses_are_limited_separately(open_shop: OpenShop) -> None:
    """One address over its limit does not stop another address."""
    async with open_shop(Settings(rate_limit=(2, 60))) as (_, abuser):
        for _ in range(3):
            last = await abuser.get("/healthz")
        async with client_for(app_of(abuser), address="10.0.0.9") as neighbour:
            fine = await neighbour.get("/healthz")
    assert last.status_code == 429
    assert fine.status_code == 200


async def test_a_logged_in_user_is_limited_across_addresses(open_shop: OpenShop) -> None:
    """bob's quota is shared by his two addresses: the user policy refuses him."""
    async with open_shop(Settings(rate_limit=(4, 60))) as (_, home):
        await home.post("/login", json={"username": "bob", "password": "builder"})
        async with client_for(app_of(home), address="10.1.1.1") as office:
            office.cookies.set("sid", home.cookies["sid"])
            statuses = [(await home.get("/me")).status_code for _ in range(2)]
            statuses += [(await office.get("/me")).status_code for _ in range(3)]
            policy = (await office.get("/healthz")).headers["RateLimit-Policy"]
    # home: login + 2 (user quota: 2 used of 4), office: 2 more allowed, then refused.
    assert statuses == [200, 200, 200, 200, 429]
    assert policy == '"addr";q=4;w=60, "user";q=4;w=60'
