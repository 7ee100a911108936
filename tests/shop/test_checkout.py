"""POST /checkout: the cart's lock plus a fencing token the database checks."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from tests.shop.conftest import OpenShop, app_of, client_for

from valkey_redis.shop import Settings

pytestmark = pytest.mark.anyio


async def _login(client: httpx.AsyncClient) -> None:
    response = await client.post("/login", json={"username": "bob", "password": "builder"})
    assert response.status_code == 200


async def test_checkout_needs_a_login(open_shop: OpenShop) -> None:
    """Anonymous checkout is 401 and stores nothing."""
    async with open_shop() as (_, client):
        response = await client.post("/checkout", json={"items": {"1": 1}})
    assert response.status_code == 401


async def test_an_order_is_stored_with_its_fencing_token(open_shop: OpenShop) -> None:
    """A checkout is 201 with the order's total and token; the database holds the order."""
    async with open_shop() as (shop, client):
        await _login(client)
        price = shop.db.peek(1)
        response = await client.post("/checkout", json={"items": {"1": 2}})
        orders = shop.db.orders(int((await client.get("/me")).json()["id"]))
    assert response.status_code == 201
    body = response.json()
    assert body["total"] == round(2 * price, 2)
    assert [(o.id, o.fencing_token) for o in orders] == [(body["order_id"], body["fencing_token"])]


async def test_a_cart_may_be_a_list_of_lines(open_shop: OpenShop) -> None:
    """`{"items": [{"product_id", "quantity"}]}` is the same order as the dict form."""
    async with open_shop() as (shop, client):
        await _login(client)
        lines = [{"product_id": 4, "quantity": 2}, {"product_id": 4}, {"product_id": 6}]
        response = await client.post("/checkout", json={"items": lines})
        orders = shop.db.orders(2)
    assert response.status_code == 201
    assert [o.items for o in orders] == [{4: 3, 6: 1}]


async def test_unknown_product_is_400_and_nothing_stored(open_shop: OpenShop) -> None:
    """An item naming no product is refused."""
    async with open_shop() as (shop, client):
        await _login(client)
        response = await client.post("/checkout", json={"items": {"424242": 1}})
        orders = shop.db.orders(2)
    assert response.status_code == 400
    assert orders == []


async def test_a_stale_lock_holder_is_refused_by_the_database(open_shop: OpenShop) -> None:
    """A holder paused past its lease comes back after a newer order: 409, stale, not stored."""
    async with open_shop(Settings(lock_timeout=0.3)) as (shop, first):
        await _login(first)
        second = client_for(app_of(first))
        second.cookies.set("sid", first.cookies["sid"])
        newer: list[httpx.Response] = []

        async def pause_first_holder() -> None:
            shop.before_commit = None  # only the first checkout pauses
            lock_key = "shop.lock:{cart%3A2}"
            deadline = time.monotonic() + 30
            while await shop.valkey.client.exists(lock_key) and time.monotonic() < deadline:
                await asyncio.sleep(0.02)  # polling the lease's end, not timing the test
            newer.append(await second.post("/checkout", json={"items": {"2": 1}}))

        shop.before_commit = pause_first_holder
        stale = await first.post("/checkout", json={"items": {"1": 5}})
        await second.aclose()
        orders = shop.db.orders(2)
    assert newer[0].status_code == 201
    assert stale.status_code == 409
    body = stale.json()
    assert body["stale"] is True
    assert "stale" in body["detail"]
    assert body["fencing_token"] < body["last_seen"] == newer[0].json()["fencing_token"]
    assert [o.items for o in orders] == [{2: 1}]


async def test_concurrent_checkouts_of_one_cart_each_get_a_higher_token(
    open_shop: OpenShop,
) -> None:
    """Eight checkouts at once: each accepted one is stored, with strictly rising tokens."""
    async with open_shop() as (shop, client):
        await _login(client)
        responses = await asyncio.gather(
            *(client.post("/checkout", json={"items": {"3": 1}}) for _ in range(8))
        )
        orders = shop.db.orders(2)
    accepted = [r for r in responses if r.status_code == 201]
    assert {r.status_code for r in responses} <= {201, 409}
    assert len(orders) == len(accepted) >= 1
    tokens = [o.fencing_token for o in orders]
    assert tokens == sorted(tokens)
    assert len(set(tokens)) == len(tokens)
