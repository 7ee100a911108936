"""Checks of exercise 2: cache-aside, serialization, invalidation."""

from __future__ import annotations

import json
from typing import Any

import redis

from valkey_redis.grading.context import Ctx, Named, show
from valkey_redis.grading.runner import check

E = 2
P1 = {"id": 1, "name": "Lamp", "price": 19.5, "tags": ["home", "light"]}
P2 = {"id": 2, "name": "Desk", "price": 120.0, "tags": []}
P3 = {"id": 3, "name": "Chair", "price": 45.0, "tags": ["home"]}
P5 = {"id": 5, "name": "Shelf", "price": 60.0, "tags": []}
P6 = {"id": 6, "name": "Rug", "price": 80.0, "tags": ["home"]}
SOURCE: dict[int, dict[str, Any]] = {1: P1, 2: P2, 3: P3, 5: P5, 6: P6}
NEW = {"id": 1, "name": "Lamp", "price": 17.0, "tags": ["home", "light", "sale"]}


def _loader() -> Named:
    return Named("load", SOURCE.get)


def _many() -> Named:
    return Named("load_many", lambda ids: {i: SOURCE[i] for i in ids if i in SOURCE})


def _cache(ctx: Ctx, product_id: int, product: dict[str, Any]) -> None:
    ctx.raw.set(f"product:{product_id}", json.dumps(product), ex=300)
    ctx.given(f"product:{product_id} is cached as JSON {show(product, 50)} (TTL 300 s)")


def _cached(ctx: Ctx, key: str) -> Any:
    raw = ctx.get(key)
    if raw is None:
        return f"no key {key} (keys on the server: {ctx.all_keys() or 'none'})"
    try:
        return json.loads(raw)
    except ValueError:
        return f"{key} holds {raw!r}, which is not JSON"


def _times(named: Named) -> str:
    return f"{named.name} called {len(named.calls)} times: {show(named.calls)}"


# --- get_product -------------------------------------------------------------------


@check(E, "get_product", "get_product calls load once on a miss and returns its product")
def _get_miss(ctx: Ctx) -> None:
    load = _loader()
    got = ctx.call("get_product", 1, load, 300)
    ctx.expect(got == P1, show(P1), got)
    ctx.expect(load.calls == [(1,)], "load called once, with 1", _times(load))


@check(E, "get_product", "get_product caches the product as JSON in product:{id} with the TTL")
def _get_caches(ctx: Ctx) -> None:
    ctx.call("get_product", 1, _loader(), 300)
    cached = _cached(ctx, "product:1")
    ctx.expect(cached == P1, f"product:1 == JSON of {show(P1, 50)}", cached)
    ttl = ctx.pttl("product:1")
    ctx.expect(
        290_000 < ttl <= 300_000,
        "a TTL of 300 s on product:1",
        ctx.ttl_text(ttl, 300_000, "product:1"),
    )


@check(E, "get_product", "get_product serves a hit without calling load")
def _get_hit(ctx: Ctx) -> None:
    _cache(ctx, 1, P1)
    load = Named("load", lambda _: {"id": 1, "name": "from the source"})
    got = ctx.call("get_product", 1, load, 300)
    ctx.expect(got == P1, f"the cached {show(P1, 50)}", got)
    ctx.expect(not load.calls, "no call to load", _times(load))


@check(E, "get_product", "get_product calls load once for repeated lookups")
def _get_once(ctx: Ctx) -> None:
    load = _loader()
    got = [ctx.call("get_product", 1, load, 300) for _ in range(3)]
    ctx.expect(got == [P1, P1, P1], "the product three times", got)
    ctx.expect(len(load.calls) == 1, "load called once", _times(load))


@check(E, "get_product", "get_product caches a missing product for at most min(ttl, 60) s")
def _get_negative(ctx: Ctx) -> None:
    for ttl, limit in ((300, 60), (10, 10)):
        ctx.reset()
        ctx.given(f"product 404 does not exist (load returns None); ttl={ttl}")
        load = _loader()
        got = [ctx.call("get_product", 404, load, ttl) for _ in range(3)]
        ctx.expect(got == [None] * 3, "None each time", got)
        ctx.expect(
            len(load.calls) == 1, "load called once: cache a 'not found' marker", _times(load)
        )
        ttls = {key: ctx.pttl(key) for key in ctx.all_keys()}
        ctx.expect(
            all(0 < t <= limit * 1000 for t in ttls.values()),
            f"every key to expire within {limit} s",
            f"PTTL per key: {ttls}",
        )


@check(E, "get_product", "get_product caches an empty product {} as a product, not as missing")
def _get_empty_product(ctx: Ctx) -> None:
    ctx.given("product 5 exists with no fields: load(5) returns {}")
    load = Named("load", lambda _id: {})
    got = [ctx.call("get_product", 5, load, 300) for _ in range(2)]
    ctx.expect(got == [{}, {}], "{} both times (an empty dict is a product; None is missing)", got)
    ctx.expect(len(load.calls) == 1, "load called once", _times(load))
    ttl = ctx.pttl("product:5")
    ctx.expect(
        ttl > 60_000, "product:5 cached for ttl = 300 s", ctx.ttl_text(ttl, 300_000, "product:5")
    )


@check(E, "get_product", "get_product treats cached bytes that are not a product as a miss")
def _get_garbage(ctx: Ctx) -> None:
    for raw in ("{not json", "[1, 2]"):
        ctx.reset()
        ctx.raw.set("product:1", raw, ex=300)
        ctx.given(f"product:1 holds {raw!r} (someone else wrote it)")
        load = _loader()
        got = ctx.call("get_product", 1, load, 300)
        ctx.expect(got == P1, f"load(1) = {show(P1, 50)} (a miss, not a crash)", got)


# --- update_product ----------------------------------------------------------------


def _saver(*, fail: bool = False, during: Any = None) -> Named:
    def save(product_id: int, data: dict[str, Any]) -> None:
        if during is not None:
            during()
        if fail:
            msg = "database is down"
            raise RuntimeError(msg)

    return Named("save", save)


@check(E, "update_product", "update_product saves, then drops the cached entry")
def _update_drops(ctx: Ctx) -> None:
    _cache(ctx, 1, P1)
    save = _saver()
    ctx.call("update_product", 1, NEW, save)
    ctx.expect(save.calls == [(1, NEW)], "save called once with (1, data)", _times(save))
    left = ctx.get("product:1")
    ctx.expect(left is None, "product:1 gone", f"product:1 = {left!r} (a stale copy)")


@check(E, "update_product", "update_product deletes the cached entry after saving, not before")
def _update_order(ctx: Ctx) -> None:
    _cache(ctx, 1, P1)

    def reader_refills() -> None:
        # A concurrent request missed while save ran, read the (still old) row
        # from the source and cached it again.
        if ctx.get("product:1") is None:
            ctx.raw.set("product:1", json.dumps(P1), ex=300)

    ctx.given("while save runs, a request that misses re-caches the old row from the source")
    ctx.call("update_product", 1, NEW, _saver(during=reader_refills))
    left = ctx.get("product:1")
    ctx.expect(left is None, "no stale copy once update_product returns", f"product:1 = {left!r}")


@check(E, "update_product", "update_product leaves the cache alone when save fails")
def _update_fails(ctx: Ctx) -> None:
    _cache(ctx, 1, P1)
    ctx.given("save raises RuntimeError('database is down')")
    try:
        ctx.call("update_product", 1, NEW, _saver(fail=True))
    except RuntimeError:
        pass
    else:
        ctx.fail("the RuntimeError to propagate", "update_product returned normally")
    cached, ttl = _cached(ctx, "product:1"), ctx.pttl("product:1")
    ctx.expect(cached == P1 and ttl > 0, "product:1 still cached as before", cached)


# --- get_product_or_fallback ------------------------------------------------------


@check(E, "get_product_or_fallback", "get_product_or_fallback uses the cache while it is up")
def _fallback_up(ctx: Ctx) -> None:
    load = _loader()
    first = ctx.call("get_product_or_fallback", 1, load, 300)
    second = ctx.call("get_product_or_fallback", 1, load, 300)
    ctx.expect(first == P1 and second == P1, "the product twice", [first, second])
    ctx.expect(len(load.calls) == 1, "load called once (the second call is a hit)", _times(load))
    cached = _cached(ctx, "product:1")
    ctx.expect(cached == P1 and ctx.pttl("product:1") > 0, "product:1 cached with a TTL", cached)


def _fallback(ctx: Ctx, error: Exception, healthy: int, story: str) -> None:
    ctx.given(story)
    load = _loader()
    client = ctx.env.broken(error, healthy=healthy)
    got = ctx.call("get_product_or_fallback", 1, load, 300, client=client)
    ctx.expect(got == P1, f"load(1) = {show(P1, 50)}", got)


@check(E, "get_product_or_fallback", "get_product_or_fallback returns load(id) when unreachable")
def _fallback_down(ctx: Ctx) -> None:
    error = redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
    _fallback(ctx, error, 0, "the cache server is down: every command raises redis.ConnectionError")


@check(E, "get_product_or_fallback", "get_product_or_fallback returns load(id) on a timeout")
def _fallback_timeout(ctx: Ctx) -> None:
    error = redis.TimeoutError("Timeout reading from socket")
    _fallback(ctx, error, 0, "the cache server hangs: every command raises redis.TimeoutError")


@check(
    E, "get_product_or_fallback", "get_product_or_fallback survives the server going away mid-call"
)
def _fallback_midway(ctx: Ctx) -> None:
    error = redis.ConnectionError("Connection closed by server.")
    story = "the server answers the first command (a miss), then raises redis.ConnectionError"
    _fallback(ctx, error, 1, story)


# --- get_products ------------------------------------------------------------------


@check(E, "get_products", "get_products loads only the missing ids, in one load_many call")
def _many_missing(ctx: Ctx) -> None:
    _cache(ctx, 1, P1)
    _cache(ctx, 2, P2)
    ctx.given("the source has product 3; product 4 exists nowhere")
    load_many = _many()
    got = ctx.call("get_products", [1, 2, 3, 4], load_many, 300)
    want = {1: P1, 2: P2, 3: P3}
    ctx.expect(got == want, f"{{1: ..., 2: ..., 3: ...}} with int keys: {show(want, 60)}", got)
    asked = [sorted(args[0]) for args in load_many.calls]
    ctx.expect(asked == [[3, 4]], "one load_many call with only [3, 4]", _times(load_many))


@check(E, "get_products", "get_products caches an empty product {} as a product")
def _many_empty_product(ctx: Ctx) -> None:
    ctx.given("product 5 exists with no fields: load_many([5]) returns {5: {}}")
    load_many = Named("load_many", lambda ids: {i: {} for i in ids if i == 5})
    got = [ctx.call("get_products", [5], load_many, 300) for _ in range(2)]
    ctx.expect(got == [{5: {}}, {5: {}}], "{5: {}} both times ({} is a product)", got)
    ctx.expect(len(load_many.calls) == 1, "load_many called once", _times(load_many))


@check(E, "get_products", "get_products does not call load_many when every id is cached")
def _many_all_cached(ctx: Ctx) -> None:
    _cache(ctx, 1, P1)
    _cache(ctx, 2, P2)
    load_many = _many()
    got = ctx.call("get_products", [1, 2], load_many, 300)
    ctx.expect(got == {1: P1, 2: P2}, "both products from the cache", got)
    ctx.expect(not load_many.calls, "no call to load_many", _times(load_many))
    trips = ctx.probe.round_trips
    ctx.expect(trips == 1, "one round trip (one MGET)", f"{trips} round trips: {ctx.probe.steps}")


@check(E, "get_products", "get_products caches what it loaded, with the TTL")
def _many_caches(ctx: Ctx) -> None:
    _cache(ctx, 1, P1)
    ctx.call("get_products", [1, 3, 5], _many(), 300)
    for product_id, product in ((3, P3), (5, P5)):
        key = f"product:{product_id}"
        cached, ttl = _cached(ctx, key), ctx.pttl(key)
        ctx.expect(cached == product, f"{key} == JSON of {show(product, 40)}", cached)
        ctx.expect(
            290_000 < ttl <= 300_000, f"a TTL of 300 s on {key}", ctx.ttl_text(ttl, 300_000, key)
        )


@check(E, "get_products", "get_products of no ids is {} without a command")
def _many_none(ctx: Ctx) -> None:
    load_many = _many()
    got = ctx.call("get_products", [], load_many, 300)
    ctx.expect(got == {}, "{}", got)
    ctx.expect(not ctx.probe.steps, "no command (MGET needs a key)", ctx.probe.steps)
    ctx.expect(not load_many.calls, "no call to load_many", _times(load_many))


@check(E, "get_products", "get_products reads every id with one MGET")
def _many_mget(ctx: Ctx) -> None:
    _cache(ctx, 1, P1)
    ctx.call("get_products", [1, 2, 3], _many(), 300)
    reads = [c for c in ctx.probe.commands if c in {"GET", "MGET", "HGET", "EXISTS"}]
    ctx.expect(reads == ["MGET"], "one MGET and no other reads", f"reads: {reads}")


@check(E, "get_products", "get_products writes the loaded ones in one round trip")
def _many_one_pipeline(ctx: Ctx) -> None:
    _cache(ctx, 1, P1)
    ctx.call("get_products", [1, 3, 5, 6], _many(), 300)
    trips = ctx.probe.round_trips
    ctx.expect(
        trips == 2,
        "2 round trips: one MGET, one pipeline for the 3 writes",
        f"{trips} round trips: {ctx.probe.steps}",
    )
