"""Checks of exercise 13: a slow endpoint of the shop made a cached one, graded over HTTP.

Each check wraps the learner's functions in the shop's routes
(:func:`valkey_redis.shop.exercise.build_app`) on a traced client and the
grader's :class:`Data` (a counting stand-in for the slow database), and talks to
them with httpx over the ASGI transport (in-process; one event loop per request,
the check itself running in a thread of its own). A route whose task still
raises ``NotImplementedError`` raises it here, so the task reads "not started".
``update_price`` checks look at ``product:{pid}`` directly (the key the stub
names), so each task can be solved on its own.
"""

from __future__ import annotations

import asyncio
import copy
import json
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx
from fastapi import FastAPI

from valkey_redis.grading.context import Ctx
from valkey_redis.grading.races import interrupted
from valkey_redis.grading.runner import check
from valkey_redis.shop.exercise import build_app

E = 13
TTL_MS = 300_000
PRODUCTS = {
    pid: {"id": pid, "name": name, "price": price}
    for pid, name, price in [(3, "Teapot", 24.0), (5, "Kettle", 31.5), (6, "Mug", 7.25)]
}
ORDERS = {
    user: [{"order": n, "items": {str(n): 1}, "owner": user} for n in range(start, start + 2)]
    for user, start in [("alice", 1), ("bob", 10), ("carol", 20), ("dave", 30)]
}


class Data:
    """The grader's slow database: counts every read, and can run a hook before a write."""

    def __init__(self) -> None:
        self.products = copy.deepcopy(PRODUCTS)
        self.order_book = copy.deepcopy(ORDERS)
        self.reads = 0
        self.order_reads: Counter[str] = Counter()
        self.before_write: Callable[[], None] | None = None
        self._lock = threading.Lock()

    def get(self, pid: int) -> dict[str, Any] | None:
        """A product, or None (counted in ``reads``)."""
        with self._lock:
            self.reads += 1
            found = self.products.get(pid)
        return None if found is None else dict(found)

    def set_price(self, pid: int, price: float) -> bool:
        """Change a price (after ``before_write``, if set); False for an unknown id."""
        if pid not in self.products:
            return False
        if self.before_write is not None:
            self.before_write()
        with self._lock:
            self.products[pid]["price"] = price
        return True

    def orders(self, user: str) -> list[dict[str, Any]]:
        """``user``'s orders (counted in ``order_reads``)."""
        with self._lock:
            self.order_reads[user] += 1
            return copy.deepcopy(self.order_book.get(user, []))


class Http:
    """A blocking httpx client of an ASGI app, in-process; exceptions of the app propagate."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Send one request and return the whole response."""

        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://shop.test") as c:
                return await c.request(method, path, **kwargs)

        return asyncio.run(send())

    def get(self, path: str, headers: dict[str, str]) -> httpx.Response:
        """GET ``path``."""
        return self.request("GET", path, headers=headers)

    def put(self, path: str, json: Any) -> httpx.Response:
        """PUT ``json`` to ``path``."""
        return self.request("PUT", path, json=json)


def _app(ctx: Ctx, data: Data, *, fresh_client: bool = False) -> Http:
    for name in ("get_product", "update_price", "my_orders"):
        ctx.func(name)  # a clear failure if one was renamed or deleted
    client = ctx.env.traced(ctx.probe) if fresh_client else ctx.client
    return Http(build_app(ctx.module, client, data))


def _get(ctx: Ctx, http: Http, path: str, **headers: str) -> httpx.Response:
    shown = "".join(f" ({k.replace('_', '-')}: {v})" for k, v in headers.items())
    ctx.called(f"GET {path}{shown}")
    response: httpx.Response = http.get(
        path, headers={k.replace("_", "-"): v for k, v in headers.items()}
    )
    return response


def _seen(response: httpx.Response) -> str:
    cache = response.headers.get("x-cache")
    return f"{response.status_code}, X-Cache {cache!r}, body {response.text[:80]!r}"


# --- get_product ---------------------------------------------------------------------


@check(E, "get_product", "get_product answers MISS, then HIT from Valkey with the same JSON")
def _miss_then_hit(ctx: Ctx) -> None:
    data = Data()
    http = _app(ctx, data)
    first = _get(ctx, http, "/products/3")
    second = _get(ctx, http, "/products/3")
    ctx.expect(
        first.status_code == 200 and first.headers.get("x-cache") == "MISS",
        "200 with X-Cache: MISS",
        _seen(first),
    )
    ctx.expect(first.json() == PRODUCTS[3], f"the product {PRODUCTS[3]}", first.text)
    ctx.expect(
        second.status_code == 200 and second.headers.get("x-cache") == "HIT",
        "200 with X-Cache: HIT",
        _seen(second),
    )
    ctx.expect(second.json() == PRODUCTS[3], "the same product again", second.text)
    ctx.expect(data.reads == 1, "one db.get in all (the HIT makes none)", f"{data.reads} calls")


@check(E, "get_product", "get_product stores product:{pid} with a TTL")
def _product_ttl(ctx: Ctx) -> None:
    _get(ctx, _app(ctx, Data()), "/products/3")
    ttl = ctx.pttl("product:3")
    ctx.expect(
        TTL_MS - 10_000 < ttl <= TTL_MS,
        "product:3 to expire in TTL = 300 s",
        f"PTTL = {ttl} ms ({ttl / 1000:g} s)",
    )
    ctx.expect(not ctx.keys_without_ttl(), "no key without a TTL", ctx.keys_without_ttl())


@check(E, "get_product", "get_product never leaves product:{pid} without a TTL, even dying midway")
def _product_ttl_always(ctx: Ctx) -> None:
    def verify(response: httpx.Response) -> None:
        ctx.expect(response.json() == PRODUCTS[3], f"the product {PRODUCTS[3]}", response.text)

    interrupted(
        ctx,
        setup=lambda: None,
        mine=lambda: _get(ctx, _app(ctx, Data()), "/products/3"),
        verify=verify,
    )


@check(E, "get_product", "get_product's ETag is the same for the same content, after a reload too")
def _etag_stable(ctx: Ctx) -> None:
    http = _app(ctx, Data())
    first = _get(ctx, http, "/products/3").headers.get("etag")
    hit = _get(ctx, http, "/products/3").headers.get("etag")
    ctx.raw.delete("product:3")
    ctx.given("product:3 expired (deleted) after the first two requests")
    reloaded = _get(ctx, http, "/products/3").headers.get("etag")
    ctx.expect(bool(first), "an ETag header", first)
    ctx.expect(first == hit == reloaded, "one ETag for one content", [first, hit, reloaded])


@check(E, "get_product", "get_product's ETag changes when the content changes")
def _etag_follows_content(ctx: Ctx) -> None:
    data = Data()
    http = _app(ctx, data)
    before = _get(ctx, http, "/products/3").headers.get("etag")
    data.products[3]["price"] = 19.0
    ctx.raw.delete("product:3")
    ctx.given("then the price changed to 19.0 in the database and product:3 expired")
    after = _get(ctx, http, "/products/3")
    ctx.expect(after.json().get("price") == 19.0, "the new price", after.text)
    ctx.expect(after.headers.get("etag") != before, "a new ETag", after.headers.get("etag"))


@check(E, "get_product", "get_product answers 304 with no body to the current ETag only")
def _not_modified(ctx: Ctx) -> None:
    http = _app(ctx, Data())
    etag = _get(ctx, http, "/products/3").headers.get("etag") or '"none"'
    same = _get(ctx, http, "/products/3", if_none_match=etag)
    listed = _get(ctx, http, "/products/3", if_none_match=f'"older", {etag}')
    other = _get(ctx, http, "/products/3", if_none_match='"someone-else"')
    ctx.expect(same.status_code == 304 and same.content == b"", "304, empty body", _seen(same))
    ctx.expect(same.headers.get("etag") == etag, f"the ETag {etag} on the 304", same.headers)
    ctx.expect("x-cache" in same.headers, "X-Cache on the 304 too", dict(same.headers))
    ctx.expect(listed.status_code == 304, "304 (the list names the ETag)", _seen(listed))
    ctx.expect(other.status_code == 200, "200 with the product (another ETag)", _seen(other))
    ctx.expect(other.json() == PRODUCTS[3], "the product", other.text)


@check(E, "get_product", "get_product answers 404 for an unknown id")
def _unknown_product(ctx: Ctx) -> None:
    response = _get(ctx, _app(ctx, Data()), "/products/999")
    ctx.expect(response.status_code == 404, "404", _seen(response))


# --- update_price --------------------------------------------------------------------


def _cached(ctx: Ctx, pid: int, price: float | None = None) -> str:
    product = dict(PRODUCTS[pid], **({} if price is None else {"price": price}))
    text = json.dumps(product)
    ctx.raw.set(f"product:{pid}", text, px=TTL_MS)
    ctx.given(f"product:{pid} = {text} (cached, TTL 300 s)")
    return text


def _put(ctx: Ctx, http: Http, pid: int, price: float) -> httpx.Response:
    ctx.called(f'PUT /products/{pid} {{"price": {price}}}')
    response: httpx.Response = http.put(f"/products/{pid}", json={"price": price})
    return response


def _stale(ctx: Ctx, pid: int, price: float) -> str | None:
    """A description of product:{pid} if it still holds a price other than ``price``."""
    text = ctx.get(f"product:{pid}")
    if text is None:
        return None
    try:
        cached = json.loads(text).get("price")
    except (ValueError, AttributeError):
        return f"product:{pid} = {text!r}"
    return None if cached == price else f"product:{pid} still cached with price {cached}"


@check(E, "update_price", "update_price writes the database and drops the cached copy")
def _put_invalidates(ctx: Ctx) -> None:
    data = Data()
    _cached(ctx, 5)
    response = _put(ctx, _app(ctx, data), 5, 12.5)
    ctx.expect(response.status_code == 200, "200", response.status_code)
    ctx.expect(
        response.json() == {"id": 5, "price": 12.5}, '{"id": 5, "price": 12.5}', response.text
    )
    ctx.expect(data.products[5]["price"] == 12.5, "db price 12.5", data.products[5]["price"])
    stale = _stale(ctx, 5, 12.5)
    ctx.expect(stale is None, "product:5 deleted (or holding the new price)", stale)


@check(E, "update_price", "update_price invalidates after the database write, never before")
def _put_order(ctx: Ctx) -> None:
    data = Data()
    old = _cached(ctx, 5)

    def reader_refills() -> None:
        ctx.raw.set("product:5", old, px=TTL_MS)

    data.before_write = reader_refills
    ctx.given("a GET of product 5 runs just before the database write and caches the old row")
    _put(ctx, _app(ctx, data), 5, 12.5)
    stale = _stale(ctx, 5, 12.5)
    ctx.expect(stale is None, "no old price left in the cache after the PUT", stale)


@check(E, "update_price", "update_price leaves every other product cached")
def _put_keeps_others(ctx: Ctx) -> None:
    _cached(ctx, 5)
    other = _cached(ctx, 6)
    _put(ctx, _app(ctx, Data()), 5, 12.5)
    got = ctx.get("product:6")
    ctx.expect(got == other, "product:6 untouched", got)


@check(E, "update_price", "update_price answers 404 for an unknown id and changes nothing")
def _put_unknown(ctx: Ctx) -> None:
    cached = _cached(ctx, 5)
    data = Data()
    response = _put(ctx, _app(ctx, data), 999, 1.0)
    ctx.expect(response.status_code == 404, "404", response.status_code)
    ctx.expect(ctx.get("product:5") == cached, "product:5 untouched", ctx.get("product:5"))
    ctx.expect(data.products == PRODUCTS, "the database unchanged", data.products)


# --- my_orders -----------------------------------------------------------------------


def _orders(ctx: Ctx, http: Http, user: str) -> httpx.Response:
    return _get(ctx, http, "/orders", x_user=user)


@check(E, "my_orders", "my_orders gives each user their own orders")
def _own_orders(ctx: Ctx) -> None:
    http = _app(ctx, Data())
    alice = _orders(ctx, http, "alice")
    bob = _orders(ctx, http, "bob")
    ctx.expect(alice.json() == ORDERS["alice"], "alice's orders", alice.text)
    ctx.expect(bob.json() == ORDERS["bob"], "bob's orders (not alice's)", bob.text)


@check(E, "my_orders", "my_orders serves a second read from Valkey")
def _orders_hit(ctx: Ctx) -> None:
    data = Data()
    http = _app(ctx, data)
    first, second = _orders(ctx, http, "carol"), _orders(ctx, http, "carol")
    ctx.expect(first.headers.get("x-cache") == "MISS", "X-Cache: MISS first", _seen(first))
    ctx.expect(second.headers.get("x-cache") == "HIT", "X-Cache: HIT second", _seen(second))
    ctx.expect(second.json() == ORDERS["carol"], "carol's orders", second.text)
    reads = data.order_reads["carol"]
    ctx.expect(reads == 1, "one db.orders('carol') in all", f"{reads} calls")


@check(E, "my_orders", "my_orders keeps its entries in Valkey, where every process sees them")
def _orders_in_valkey(ctx: Ctx) -> None:
    data = Data()
    first = _orders(ctx, _app(ctx, data), "dave")
    second = _orders(ctx, _app(ctx, data, fresh_client=True), "dave")
    ctx.given("the second request went to another app (another process's worker)")
    ctx.expect(second.headers.get("x-cache") == "HIT", "HIT from Valkey", _seen(second))
    ctx.raw.flushall()
    data.order_book["dave"].append({"order": 99, "items": {"9": 1}, "owner": "dave"})
    ctx.given("then Valkey was emptied and dave placed order 99")
    third = _orders(ctx, _app(ctx, data), "dave")
    ctx.expect(third.headers.get("x-cache") == "MISS", "MISS: nothing left in Valkey", _seen(third))
    ctx.expect(len(third.json()) == 3, "dave's 3 orders", third.text)
    ctx.expect(first.status_code == 200, "200", first.status_code)


@check(E, "my_orders", "my_orders stores its entries with a TTL")
def _orders_ttl(ctx: Ctx) -> None:
    _orders(ctx, _app(ctx, Data()), "alice")
    keys = ctx.all_keys()
    ctx.expect(bool(keys), "a cache entry in Valkey", keys)
    ctx.expect(not ctx.keys_without_ttl(), "every key with a TTL", ctx.keys_without_ttl())
    ttls = {key: ctx.pttl(key) for key in keys}
    ctx.expect(
        all(TTL_MS - 10_000 < ttl <= TTL_MS for ttl in ttls.values()),
        "each entry to expire in TTL = 300 s",
        ", ".join(f"PTTL {key} = {ttl} ms" for key, ttl in ttls.items()),
    )


@check(E, "my_orders", "my_orders never leaves its entry without a TTL, even dying midway")
def _orders_ttl_always(ctx: Ctx) -> None:
    def verify(response: httpx.Response) -> None:
        ctx.expect(response.status_code == 200, "200", _seen(response))

    interrupted(
        ctx,
        setup=lambda: None,
        mine=lambda: _orders(ctx, _app(ctx, Data()), "alice"),
        verify=verify,
    )


@check(E, "my_orders", "my_orders marks its answer Cache-Control: private")
def _orders_private(ctx: Ctx) -> None:
    http = _app(ctx, Data())
    answers = [_orders(ctx, http, "bob") for _ in range(2)]
    shown = [a.headers.get("cache-control") for a in answers]
    ctx.expect(all("private" in (s or "") for s in shown), "private on MISS and HIT", shown)
