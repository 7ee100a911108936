"""Example 1 — basics: the five core data structures, expiry, atomic counters, pipelines.

Run it with ``make example-1`` or ``python -m valkey_redis.examples.example_1_basics``.
Every key lives under ``ex1:`` and is deleted at the end.
"""

from __future__ import annotations

import time
from typing import cast

import redis

from valkey_redis.examples.runner import delete_matching, example_backend, plural

PREFIX = "ex1:"
ROUND_TRIPS = 200


def strings(client: redis.Redis) -> None:
    """Strings hold one value: text, a number, or serialized JSON."""
    print("\n1. Strings — one value per key")
    client.set(f"{PREFIX}greeting", "hello, valkey")
    print(f"   SET/GET ex1:greeting -> {client.get(f'{PREFIX}greeting')!r}")
    print(f"   GET of a missing key -> {client.get(f'{PREFIX}missing')!r} (None, not an error)")


def hashes(client: redis.Redis) -> None:
    """Hashes hold fields; update one without rewriting the others."""
    print("\n2. Hashes — an object whose fields change independently")
    key = f"{PREFIX}user:42"
    client.hset(key, mapping={"name": "Ada", "plan": "free", "visits": "0"})
    client.hset(key, "plan", "pro")
    client.hincrby(key, "visits", 1)
    print(f"   HSET + HINCRBY -> {client.hgetall(key)}")


def lists(client: redis.Redis) -> None:
    """Lists are ordered: queues and recent-items feeds."""
    print("\n3. Lists — ordered, good for queues and 'latest N' feeds")
    key = f"{PREFIX}recent"
    for page in ("/home", "/pricing", "/docs", "/blog"):
        client.lpush(key, page)
    client.ltrim(key, 0, 2)  # keep only the three most recent
    print(f"   LPUSH x4 then LTRIM 0 2 -> {client.lrange(key, 0, -1)}")


def sets(client: redis.Redis) -> None:
    """Sets are unordered and unique: tags, memberships."""
    print("\n4. Sets — unique members, fast membership tests")
    client.sadd(f"{PREFIX}tags:post1", "python", "valkey", "cache")
    client.sadd(f"{PREFIX}tags:post2", "python", "asyncio")
    common = sorted(client.sinter([f"{PREFIX}tags:post1", f"{PREFIX}tags:post2"]))
    print(f"   SINTER of two posts' tags -> {common}")
    print(f"   SISMEMBER post1 'cache' -> {bool(client.sismember(f'{PREFIX}tags:post1', 'cache'))}")


def sorted_sets(client: redis.Redis) -> None:
    """Sorted sets keep members ordered by score: leaderboards, time indexes."""
    print("\n5. Sorted sets — members ordered by score (leaderboards)")
    key = f"{PREFIX}board"
    client.zadd(key, {"ada": 120, "grace": 95, "linus": 130})
    client.zincrby(key, 20, "grace")
    top = cast("list[tuple[str, float]]", client.zrevrange(key, 0, 1, withscores=True))
    print(f"   ZADD, ZINCRBY grace +20, top 2 -> {[(m, int(s)) for m, s in top]}")


def expiry(client: redis.Redis) -> None:
    """Every cache entry needs a TTL; set it in the same command as the value."""
    print("\n6. Expiry — SET with EX sets value and TTL atomically")
    key = f"{PREFIX}token"
    client.set(key, "abc", ex=30)
    print(f"   SET ex1:token abc EX 30 -> TTL {client.ttl(key)} s")
    client.persist(key)
    print(f"   PERSIST -> TTL {client.ttl(key)} (-1 means: no expiry, lives forever)")
    client.expire(key, 10)
    print(f"   EXPIRE 10 -> TTL {client.ttl(key)} s")
    print(f"   TTL of a missing key -> {client.ttl(f'{PREFIX}missing')} (-2 means: no such key)")


def atomic_counters(client: redis.Redis) -> None:
    """INCR/DECR and SET NX are atomic: no read-modify-write race."""
    print("\n7. Atomic operations — INCR/DECR and SET NX")
    key = f"{PREFIX}stock"
    client.set(key, 10)
    client.incr(key, 5)
    left = client.decr(key)
    print(f"   SET 10, INCRBY 5, DECR -> {left} (each is one atomic step on the server)")
    first = client.set(f"{PREFIX}owner", "worker-a", nx=True, ex=30)
    second = client.set(f"{PREFIX}owner", "worker-b", nx=True, ex=30)
    print(f"   SET NX by worker-a -> {first!r}; by worker-b -> {second!r}")
    print(f"   owner is still {client.get(f'{PREFIX}owner')!r}: SET NX never overwrites")


def pipelining(client: redis.Redis) -> None:
    """A pipeline sends many commands in one round trip."""
    print(f"\n8. Pipelines — {ROUND_TRIPS} SETs, one by one vs batched")
    keys = [f"{PREFIX}n:{i}" for i in range(ROUND_TRIPS)]
    start = time.perf_counter()
    for i, key in enumerate(keys):
        client.set(key, i, ex=60)
    one_by_one = time.perf_counter() - start
    start = time.perf_counter()
    with client.pipeline(transaction=False) as pipe:
        for i, key in enumerate(keys):
            pipe.set(key, i, ex=60)
        pipe.execute()
    batched = time.perf_counter() - start
    speedup = one_by_one / batched if batched else float("inf")
    print(f"   {ROUND_TRIPS} round trips: {one_by_one * 1000:7.1f} ms")
    print(f"   1 pipeline:      {batched * 1000:7.1f} ms  ({speedup:.0f}x faster)")
    print("   Each round trip waits for the network; a pipeline waits once.")


def cleanup(client: redis.Redis) -> int:
    """Delete every key this example wrote."""
    return delete_matching(client, f"{PREFIX}*")


def main() -> int:
    """Run the basics tour and return the exit status."""
    print("Example 1 — Valkey basics")
    with example_backend() as backend:
        client = backend.client
        cleanup(client)
        strings(client)
        hashes(client)
        lists(client)
        sets(client)
        sorted_sets(client)
        expiry(client)
        atomic_counters(client)
        pipelining(client)
        removed = cleanup(client)
        print(f"\nCleaned up {plural(removed, 'key')} under '{PREFIX}'. Done.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
