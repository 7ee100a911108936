"""The asyncio helpers: ``valkey_redis.aio`` vs raw ``redis.asyncio`` and the async peers.

Four questions, each a DESIGN target (round 2):

- An ``aio.Cache`` hit (``get``, ``get_or_set``, ``@cached``) costs about a raw
  ``redis.asyncio`` ``GET`` + ``json.loads``: >= 0.9x its ops/s, one round trip.
- Hit throughput is >= 1.3x cashews' and aiocache's on the same server, with 1
  task and with 100 concurrent tasks (each on its default settings, JSON for
  aiocache; cashews pickles by default).
- Each async limiter is >= ``limits.aio`` (its redis-py asyncio storage) for the
  same algorithm.
- ``aio.Lock`` acquire + release (with its fencing token) is >= redis-py's asyncio
  ``Lock`` (SET NX PX, then a compare-and-delete script).

Every contender runs on one event loop owned by this module; ``run(n)`` is one
``run_until_complete`` of ``n`` operations (split over the tasks), so the loop's
own entry cost is spread over hundreds of operations.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import warnings
from collections.abc import Awaitable, Callable
from typing import Any, cast
from urllib.parse import urlparse

import redis.asyncio
from aiocache import RedisCache
from aiocache.serializers import JsonSerializer
from cashews import Cache as Cashews
from limits import RateLimitItemPerMinute
from limits.aio.storage import RedisStorage
from limits.aio.strategies import (
    FixedWindowRateLimiter,
    MovingWindowRateLimiter,
    RateLimiter,
    SlidingWindowCounterRateLimiter,
)

from benchmarks.bench_cache import PAYLOAD
from benchmarks.context import TIMEOUT, BenchContext, client_options
from benchmarks.harness import Comparison, Contender, CountingConnection, Target
from valkey_redis import aio

__all__ = ["build"]

TTL = 600
LIMIT = 1_000_000
IDENTITIES = [f"user-{i}" for i in range(64)]
SPREAD = 100  # tasks, and keys, of the spread-out hit comparison
PEERS = ("cashews", "aiocache")


class AsyncCountingConnection(redis.asyncio.Connection):
    """A ``redis.asyncio`` connection that counts round trips like the sync one.

    It counts the writes handed to the socket's stream (a pipeline is one), below
    every send path, so the path measured is the one a user's client takes.
    """

    async def _connect(self) -> None:
        await super()._connect()  # type: ignore[no-untyped-call]
        writer: Any = self._writer
        write = writer.writelines

        def counted(data: Any) -> None:
            CountingConnection.sent += 1
            write(data)

        writer.writelines = counted


class _Loop:
    """The module's event loop: turns ``op`` (one awaited operation) into ``run(n)``."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.closers: list[Callable[[], Awaitable[object]]] = []  # clients to close at the end

    def close(self) -> None:
        """Close every client the suite made, then the loop (no connection left open)."""
        with warnings.catch_warnings():  # aiocache closes its client with a deprecated close()
            warnings.simplefilter("ignore", DeprecationWarning)
            for closer in self.closers:
                self.loop.run_until_complete(closer())
        self.loop.close()

    def each(self, op: Callable[[], Awaitable[object]], tasks: int = 1) -> Callable[[int], None]:
        async def worker(count: int) -> None:
            for _ in range(count):
                await op()

        async def many(n: int) -> None:
            share, extra = divmod(n, tasks)
            await asyncio.gather(*(worker(share + (i < extra)) for i in range(tasks)))

        def run(n: int) -> None:
            self.loop.run_until_complete(worker(n) if tasks == 1 else many(n))

        return run

    def __call__(self, awaitable: Awaitable[Any]) -> Any:
        return self.loop.run_until_complete(awaitable)


def _hits(ctx: BenchContext, loop: _Loop, client: Any) -> list[Comparison]:
    cache = aio.Cache(client, namespace=ctx.name("aio"), ttl=TTL)
    raw_key = ctx.name("aio-raw", "user", "42")
    cashews, aiocache = _peers(ctx, loop)
    peer_key = ctx.name("cashews", "user", "42")
    other_key = ctx.name("aiocache", "user", "42")

    async def payload() -> dict[str, Any]:
        return PAYLOAD

    @cache.cached(ttl=TTL)
    async def load_user(user_id: int) -> dict[str, Any]:
        return PAYLOAD

    async def fill() -> None:
        await client.set(raw_key, json.dumps(PAYLOAD), ex=TTL)
        await cache.set("user:42", PAYLOAD)
        await cache.get_or_set("gos:42", payload)
        await load_user(42)
        await cashews.set(peer_key, PAYLOAD, expire=TTL)
        await aiocache.set(other_key, PAYLOAD)  # no ttl: aiocache would call a deprecated SETEX

    loop(fill())

    async def raw() -> None:
        assert json.loads(cast(str, await client.get(raw_key)))["id"] == 42

    async def get() -> None:
        assert (await cache.get("user:42"))["id"] == 42

    async def get_or_set() -> None:
        assert (await cache.get_or_set("gos:42", payload))["id"] == 42

    async def decorated() -> None:
        assert (await load_user(42))["id"] == 42

    async def via_cashews() -> None:
        assert cast(dict[str, Any], await cashews.get(peer_key))["id"] == 42

    async def via_aiocache() -> None:
        assert (await aiocache.get(other_key))["id"] == 42

    comparisons = [
        Comparison(
            name="aio cache hit",
            lesson="Await one cached ~250-byte JSON object that is present (1 task).",
            baseline=Contender("raw redis.asyncio GET + json.loads", loop.each(raw)),
            contenders=[
                Contender("aio.Cache.get", loop.each(get)),
                Contender("aio.Cache.get_or_set", loop.each(get_or_set)),
                Contender("@aio_cache.cached", loop.each(decorated)),
            ],
            ops=ctx.ops(2000),
            target=Target(">= 0.9x raw GET + json.loads; 1 round trip", 0.9, 1),
        )
    ]
    for tasks in (1, 100):
        for peer, op in (("cashews", via_cashews), ("aiocache", via_aiocache)):
            comparisons.append(
                Comparison(
                    name=f"aio cache hit vs {peer}, {tasks} task{'s' if tasks > 1 else ''}",
                    lesson=f"Hit throughput with {tasks} concurrent task(s) on one client each.",
                    baseline=Contender(f"{peer} get", loop.each(op, tasks)),
                    contenders=[Contender("aio.Cache.get", loop.each(get, tasks))],
                    ops=ctx.ops(2000),
                    target=Target(f">= 1.3x {peer}", 1.3, applies_to=("aio.Cache.get",)),
                )
            )
    return comparisons


def _peers(ctx: BenchContext, loop: _Loop) -> tuple[Any, Any]:
    """cashews and aiocache on the run's server (closed with the loop)."""
    cashews = Cashews()
    cashews.setup(ctx.url, socket_timeout=TIMEOUT)  # the same generous timeout as ours
    server = urlparse(ctx.url)
    aiocache = RedisCache(
        serializer=JsonSerializer(),
        endpoint=server.hostname or "127.0.0.1",
        port=server.port or 6379,
        db=int(server.path.strip("/") or 0),
        timeout=TIMEOUT,
    )
    loop.closers += [cashews.close, aiocache.close]
    return cashews, aiocache


def _spread_hits(ctx: BenchContext, loop: _Loop, client: Any) -> list[Comparison]:
    """100 tasks reading 100 different keys: nothing to merge, every read its own GET."""
    cache = aio.Cache(client, namespace=ctx.name("aio-spread"), ttl=TTL)
    cashews, aiocache = _peers(ctx, loop)
    names = {peer: [ctx.name(peer, "item", str(i)) for i in range(SPREAD)] for peer in PEERS}

    async def fill() -> None:
        await cache.set_many(dict.fromkeys(range(SPREAD), PAYLOAD), ttl=TTL)
        for i in range(SPREAD):
            await cashews.set(names["cashews"][i], PAYLOAD, expire=TTL)
            await aiocache.set(names["aiocache"][i], PAYLOAD)

    loop(fill())
    turns = {who: itertools.cycle(range(SPREAD)) for who in ("ours", *PEERS)}

    async def ours() -> None:
        assert (await cache.get(next(turns["ours"])))["id"] == 42

    async def via_cashews() -> None:
        got = await cashews.get(names["cashews"][next(turns["cashews"])])
        assert cast(dict[str, Any], got)["id"] == 42

    async def via_aiocache() -> None:
        assert (await aiocache.get(names["aiocache"][next(turns["aiocache"])]))["id"] == 42

    return [
        Comparison(
            name=f"aio cache hit vs {peer}, {SPREAD} tasks on {SPREAD} keys",
            lesson="Hit throughput with 100 concurrent tasks, each read a different key.",
            baseline=Contender(f"{peer} get", loop.each(op, SPREAD)),
            contenders=[Contender("aio.Cache.get", loop.each(ours, SPREAD))],
            ops=ctx.ops(2000),
            target=Target(f">= 1.3x {peer}", 1.3, applies_to=("aio.Cache.get",)),
        )
        for peer, op in (("cashews", via_cashews), ("aiocache", via_aiocache))
    ]


def _limiters(ctx: BenchContext, loop: _Loop, client: Any) -> list[Comparison]:
    item = RateLimitItemPerMinute(LIMIT)
    pairs: list[tuple[str, Any, type[RateLimiter]]] = [
        ("fixed window", aio.FixedWindow, FixedWindowRateLimiter),
        ("sliding window counter", aio.SlidingWindowCounter, SlidingWindowCounterRateLimiter),
        ("sliding log", aio.SlidingWindowLog, MovingWindowRateLimiter),
    ]
    comparisons = []
    for title, ours_kind, theirs_kind in pairs:
        options: dict[str, Any] = {"connection_class": AsyncCountingConnection}
        storage = RedisStorage(
            f"async+{ctx.url}",
            implementation="redispy",
            key_prefix=ctx.name("limits-aio", theirs_kind.__name__),
            **options,
        )
        bridge: Any = storage.bridge  # its redis.asyncio client is not in the type
        loop.closers.append(bridge.storage.aclose)
        theirs, ours = (
            theirs_kind(storage),
            ours_kind(client, limit=LIMIT, window=60, prefix=ctx.name("aio-rl")),
        )
        users, others = itertools.cycle(IDENTITIES), itertools.cycle(IDENTITIES)

        async def hit_ours(limiter: Any = ours, users: Any = users) -> None:
            assert (await limiter.hit(next(users))).allowed

        async def hit_theirs(strategy: Any = theirs, users: Any = others) -> None:
            assert await strategy.hit(item, next(users))

        comparisons.append(
            Comparison(
                name=f"aio rate limit: {title}",
                lesson=f"One allowed hit of aio.{ours_kind.__name__} vs limits.aio.",
                baseline=Contender(f"limits.aio {theirs_kind.__name__}", loop.each(hit_theirs)),
                contenders=[Contender(f"aio.{ours_kind.__name__}", loop.each(hit_ours))],
                ops=ctx.ops(1500),
                target=Target(">= limits.aio for the same algorithm; 1 round trip", 1.0, 1),
            )
        )
    return comparisons


def _lock(ctx: BenchContext, loop: _Loop, client: Any) -> Comparison:
    names = {who: ctx.name("aio-lock", who) for who in ("redispy", "ours")}

    async def redis_py() -> None:
        lock = client.lock(names["redispy"], timeout=10)
        assert await lock.acquire()
        await lock.release()

    async def ours() -> None:
        lock = aio.Lock(client, names["ours"], timeout=10)
        assert await lock.acquire()
        assert await lock.release()

    return Comparison(
        name="aio lock acquire + release",
        lesson="Build an async lock, acquire it uncontended, release it.",
        baseline=Contender("redis.asyncio Lock", loop.each(redis_py)),
        contenders=[Contender("aio.Lock", loop.each(ours), note="with a fencing token")],
        ops=ctx.ops(600),
        target=Target(">= redis-py's asyncio Lock; 2 round trips", 1.0, 2),
        teardown=loop.close,  # the suite's last comparison
    )


def _near_cache(ctx: BenchContext, loop: _Loop, client: Any) -> Comparison:
    """An ``aio.NearCache`` hit vs a ``redis.asyncio`` GET (the sync one's target: >= 20x)."""
    near = aio.NearCache(client, namespace=ctx.name("aio-near"))
    name, value = near.key("user:42"), json.dumps(PAYLOAD)

    async def fill() -> None:
        await near.set("user:42", value, ttl=TTL)
        assert await near.get("user:42") == value  # the miss that fills the local copy

    async def raw() -> None:
        assert await client.get(name) == value

    async def hit() -> None:
        assert await near.get("user:42") == value

    def teardown() -> int:
        hits = near.stats.hits
        loop(near.close())
        assert hits > 0, "the near cache never hit"
        return hits

    return Comparison(
        name="aio near-cache hit",
        lesson="Await one hot ~250-byte value: from this process's memory vs over the network.",
        baseline=Contender("raw redis.asyncio GET", loop.each(raw)),
        contenders=[Contender("aio.NearCache.get (hit)", loop.each(hit))],
        ops=ctx.ops(3000),
        target=Target(">= 20x a network GET; 0 round trips", min_ratio=20, round_trips=0),
        setup=lambda: loop(fill()),
        teardown=teardown,
    )


def build(ctx: BenchContext) -> list[Comparison]:
    """Hits (vs raw and peers, one hot key and 100 keys), the limiter pairs, the lock."""
    loop = _Loop()
    # Generous timeouts: on a loaded machine a 0.3 s reply timeout would end the run.
    client = aio.connect(ctx.url, connection_class=AsyncCountingConnection, **client_options())
    loop.closers.append(client.aclose)
    comparisons = [
        *_hits(ctx, loop, client),
        *_spread_hits(ctx, loop, client),
        *_limiters(ctx, loop, client),
    ]
    return [*comparisons, _near_cache(ctx, loop, client), _lock(ctx, loop, client)]
