"""Example 2 — caching patterns in front of a slow SQLite database.

Cache-aside (first read slow, then fast), invalidation on update (and what goes
stale without it), write-through, write-behind, TTL jitter, a stampede of 20
threads with and without protection (and of 1,000 asyncio tasks with
``valkey_redis.aio``), and the hit ratio. Run it with
``make example-2``; it cleans up its keys and its temporary database.
"""

from __future__ import annotations

import asyncio
import functools
import random
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from valkey_redis import Cache, WriteBehind, aio, keys
from valkey_redis.examples._sqlite_db import Product, ProductDB
from valkey_redis.examples.runner import Backend, example_backend, plural

NAMESPACE = "ex2"
QUEUE = "ex2-prices"
THREADS = 20
TASKS = 1000
PRODUCTS: list[Product] = [
    {"id": 1, "name": "Keyboard", "price": 49.0},
    {"id": 2, "name": "Mouse", "price": 19.0},
    {"id": 3, "name": "Monitor", "price": 199.0},
    {"id": 4, "name": "Webcam", "price": 59.0},
    {"id": 5, "name": "Headset", "price": 89.0},
]


def timed(call: Callable[[], Any]) -> tuple[Any, float]:
    """Run ``call``; return its result and the milliseconds it took."""
    start = time.perf_counter()
    result = call()
    return result, (time.perf_counter() - start) * 1000


def cache_aside(cache: Cache, db: ProductDB) -> None:
    """The first read misses and queries the database; the next ones are hits."""
    print("\n1. Cache-aside — get_or_set: hit, or load from the database and cache it")
    print(f"   (each database query takes ~{db.delay * 1000:.0f} ms, on purpose)")
    times = []
    for attempt in ("miss", "hit ", "hit "):
        value, ms = timed(lambda: cache.get_or_set("product:1", lambda: db.get(1)))
        times.append(ms)
        print(f"   get_or_set('product:1') {attempt} -> {ms:6.1f} ms  {value}")
    print(f"   database queries: {db.queries} (only the miss reached the database)")
    print(f"   the first hit was {times[0] / max(times[1], 1e-3):.0f}x faster than the miss")


def invalidation(cache: Cache, db: ProductDB) -> None:
    """Update the row; without deleting the entry the cache serves the old price."""
    print("\n2. Invalidation on update — change the source, then delete the cached entry")
    db.update_price(1, 39.0)
    stale = cache.get_or_set("product:1", lambda: db.get(1))
    print(f"   UPDATE price to 39.0 in SQLite, cache untouched -> {stale['price']} (stale!)")
    cache.delete("product:1")
    before = db.queries
    fresh = cache.get_or_set("product:1", lambda: db.get(1))
    print(
        f"   cache.delete('product:1'), read again -> {fresh['price']} "
        f"(fresh; {db.queries - before} query)"
    )
    print("   Rule: write the source first, then delete (or overwrite) the cache entry.")


def write_through(cache: Cache, db: ProductDB) -> None:
    """Save to the database, then put the new value in the cache."""
    print("\n3. Write-through — save to the database first, then cache the new value")
    product = {"id": 2, "name": "Mouse", "price": 15.0}
    before = db.queries
    cached = cache.write_through("product:2", product, db.save)
    value = cache.get_or_set("product:2", lambda: db.get(2))
    print(f"   write_through(product 2, price 15.0) -> cached: {cached}")
    print(f"   database price: {db.peek(2)}; read -> {value['price']} (a hit)")
    print(f"   database queries for that read: {db.queries - before}")


def write_behind(client: redis.Redis, cache: Cache, db: ProductDB) -> None:
    """Queue writes in a Valkey Stream; apply them to the database later, in batches."""
    print("\n4. Write-behind — accept writes at once, apply them to the database later")
    queue = WriteBehind(client, name=QUEUE, apply_batch=db.apply_writes, batch_size=4, cache=cache)
    changes = {3: 179.0, 4: 55.0, 5: 79.0}
    for pid, price in changes.items():
        for step in (price + 10, price):  # two edits each: only the last one must win
            product = {**PRODUCTS[pid - 1], "price": step}
            queue.submit(f"product:{pid}", product)
    print(
        f"   submitted {2 * len(changes)} price changes (2 per product, the last one wins); "
        f"backlog: {queue.backlog()} writes"
    )
    cached = [cache.get(f"product:{pid}")["price"] for pid in changes]
    print(f"   cache already has the new prices:  {cached}")
    print(f"   database still has the old prices: {[db.peek(pid) for pid in changes]}")
    applied = queue.flush()
    print(f"   flush() -> applied {applied} writes in {db.batches} batches (one transaction each)")
    print(f"   database caught up: {[db.peek(pid) for pid in changes]}; backlog: {queue.backlog()}")
    print("   Risk: until applied, the writes live only in Valkey (see write_behind.py).")


def jitter(client: redis.Redis) -> None:
    """Keys written together get spread-out TTLs, so they do not expire together."""
    print("\n5. TTL with jitter — entries written together should not expire together")
    for amount in (0.0, 0.1):
        cache = Cache(client, namespace=NAMESPACE, ttl=60, jitter=amount)
        names = [f"jitter:{i}" for i in range(6)]
        cache.set_many({name: i for i, name in enumerate(names)})
        with client.pipeline(transaction=False) as pipe:  # read all TTLs at one moment
            for name in names:
                pipe.pttl(cache.redis_key(name))
            ttls = sorted(int(ms) / 1000 for ms in pipe.execute())
        shown = " ".join(f"{ttl:.1f}" for ttl in ttls)
        print(f"   ttl=60 jitter={amount}: expire in {shown} s (spread {ttls[-1] - ttls[0]:.1f} s)")
        cache.delete(*names)
    print("   Without jitter, keys cached together all miss in the same second.")


def race(read: Callable[[], Any]) -> list[Any]:
    """Start THREADS threads at one barrier, each calling ``read``; return their results."""
    results: list[Any] = []
    start = threading.Barrier(THREADS)

    def worker() -> None:
        start.wait()
        results.append(read())  # list.append is thread-safe

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def stampede(client: redis.Redis, db: ProductDB) -> None:
    """20 threads miss one cold key at once: naive cache-aside vs get_or_set."""
    print(f"\n6. Stampede — {THREADS} threads read the same cold key at the same moment")
    calls = {"naive": 0, "protected": 0}
    count = threading.Lock()

    def load(kind: str) -> Product:
        with count:
            calls[kind] += 1
        return db.get(3)

    naive_key = keys.join(NAMESPACE, "naive", "product", 3)

    def naive() -> Any:
        cached = client.get(naive_key)
        if cached is not None:
            return cached
        value = load("naive")
        client.set(naive_key, repr(value), ex=60)
        return value

    cache = Cache(client, namespace=NAMESPACE, ttl=60)  # its own stats
    cache.delete("product:3")  # make sure both runs start cold
    results = race(naive)
    print(
        f"   naive GET / query / SET: {calls['naive']} loader calls, "
        f"{len(results)} of {THREADS} threads got the value"
    )
    results = race(lambda: cache.get_or_set("product:3", lambda: load("protected")))
    print(
        f"   protected get_or_set:    {plural(calls['protected'], 'loader call')}, "
        f"{len(results)} of {THREADS} threads got the value"
    )
    print("   Protected: one thread loads, the others wait for its value (threads of one")
    print("   process share the call; other processes wait on a short lock key in Valkey).")


def stampede_with_tasks(backend: Backend, db: ProductDB) -> None:
    """The same stampede in asyncio: 1,000 tasks, aio.Cache, one loader call."""
    calls: list[int] = []

    async def load() -> Product:
        calls.append(1)
        return await asyncio.to_thread(db.get, 3)  # a blocking query, off the event loop

    async def main() -> list[Any]:
        client = backend.async_client()
        cache = aio.Cache(client, namespace=NAMESPACE, ttl=60)
        await cache.delete("product:4")  # cold
        try:
            return await asyncio.gather(
                *(cache.get_or_set("product:4", load) for _ in range(TASKS))
            )
        finally:
            await client.aclose()

    results = asyncio.run(main())
    got = sum(1 for value in results if value is not None)
    loads = plural(len(calls), "loader call")
    print(f"   {TASKS:,} asyncio tasks, aio.Cache.get_or_set: {loads}, {got:,} of {TASKS:,} tasks")
    print("   got the value (tasks of one event loop share one GET and one load).")


def hit_ratio(cache: Cache, db: ProductDB) -> None:
    """A skewed read workload, then the counters the cache kept all along."""
    print("\n7. Hit ratio — 100 more reads (popular products more often), then cache.stats")
    rng = random.Random(2)
    queries_before = db.queries
    for pid in rng.choices([1, 2, 3, 4, 5], weights=[50, 25, 12, 8, 5], k=100):
        cache.get_or_set(f"product:{pid}", functools.partial(db.get, pid))
    stats = cache.stats
    print(
        f"   hits={stats.hits} misses={stats.misses} loads={stats.loads} "
        f"errors={stats.errors} -> hit ratio {stats.hit_ratio:.0%}"
    )
    print("   (this cache's counters since step 1; loads = the times it called the database)")
    ran = db.queries - queries_before
    print(
        f"   Every hit is a query the database did not run: these 100 reads ran"
        f" {plural(ran, 'query', 'queries')};"
    )
    print(
        f"   the whole example ran {plural(db.queries, 'query', 'queries')}"
        " (loads, writes and the stampede of steps 1-6)."
    )


def cleanup(client: redis.Redis) -> int:
    """Delete every key this example wrote."""
    names = list(client.scan_iter(match=f"{NAMESPACE}:*", count=500))
    names.append(keys.tagged("wb", QUEUE, "stream"))
    return int(client.delete(*names))


def main() -> int:
    """Run the caching-patterns tour and return the exit status."""
    print("Example 2 — caching patterns in front of a slow SQLite database")
    with example_backend() as backend, tempfile.TemporaryDirectory() as tmp:
        client = backend.client
        cleanup(client)
        db = ProductDB(Path(tmp) / "shop.sqlite", delay=0.08)
        db.seed(PRODUCTS)
        print(f"   database: a real SQLite file with {len(PRODUCTS)} products")
        cache = Cache(client, namespace=NAMESPACE, ttl=60)
        cache_aside(cache, db)
        invalidation(cache, db)
        write_through(cache, db)
        write_behind(client, cache, db)
        jitter(client)
        stampede(client, db)
        stampede_with_tasks(backend, db)
        hit_ratio(cache, db)
        removed = cleanup(client)
        print(
            f"\nCleaned up {plural(removed, 'key')} under '{NAMESPACE}:'"
            " and the write-behind stream. Done."
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
