"""Example 7 — invalidation: telling every copy of a value that it changed.

Run it with ``make example-7`` or ``python -m valkey_redis.examples.example_7_invalidation``.
Keys live under ``ex7:`` (the Cache) and ``ex7-near:`` (the near cache) and are
deleted at the end. Parts 1 and 3 run on fakeredis too; the near cache (part 2)
needs a real Valkey server, because it relies on CLIENT TRACKING.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, cast

import redis
from redis.client import PubSub

from valkey_redis.cache import Cache
from valkey_redis.examples.runner import Backend, delete_matching, example_backend, plural
from valkey_redis.near_cache import NearCache

NAMESPACE, NEAR_NAMESPACE = "ex7", "ex7-near"
LATENCY_ROUNDS = 2_000


def next_event(pubsub: PubSub, timeout: float = 2.0) -> dict[str, Any] | None:
    """Return the next invalidation event on ``pubsub`` (decoded JSON), or None on timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = pubsub.get_message(ignore_subscribe_messages=True, timeout=0.05)
        if message is not None:
            return cast("dict[str, Any]", json.loads(message["data"]))
    return None


def pubsub_events(cache: Cache, pubsub: PubSub) -> None:
    """A deletion publishes an event that every subscribed process receives."""
    print("\n1. Pub/sub invalidation events — one message tells every process")
    print(f"   a subscriber listens on {cache.events_channel!r}")
    cache.set("product:1", {"name": "Valkey in Action", "price": 39})
    print(f"   cache.set('product:1') -> stored; cache.get -> {cache.get('product:1')}")
    cache.delete("product:1")
    print(f"   cache.delete('product:1') -> the subscriber received: {next_event(pubsub)}")
    print("   Each process drops its own in-memory copy of those keys when it gets this.")
    print("   Pub/sub is fire-and-forget: a subscriber that was disconnected misses the")
    print("   message, so every copy still needs a TTL as a backstop.")


def wait_until(condition: Callable[[], bool], timeout: float = 2.0) -> bool:
    """Poll ``condition()`` until it holds or ``timeout`` seconds pass; return its last value."""
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            return condition()
        time.sleep(0.0001)
    return True


def per_call(func: Callable[[], object], rounds: int) -> float:
    """Seconds per call of ``func()`` averaged over ``rounds`` calls."""
    start = time.perf_counter()
    for _ in range(rounds):
        func()
    return (time.perf_counter() - start) / rounds


def near_cache(backend: Backend) -> None:
    """A near cache serves hits from memory and hears about every write."""
    print("\n2. A near cache kept fresh by CLIENT TRACKING")
    if not backend.is_real:
        print("   skipped: the near cache needs a real Valkey server (fakeredis has no")
        print("   CLIENT TRACKING); run `make infra-up` and retry to see this part.")
        return
    # Writes go through the client's pool, on connections other than the near
    # cache's tracking connection: to the server they are "another client", like
    # the back office of another process changing a price.
    writer = backend.client
    execute = cast("Callable[..., object]", writer.execute_command)  # untyped in redis-py
    with NearCache(backend.client, namespace=NEAR_NAMESPACE, max_entries=1_000) as near:
        name = near.key("price-42")
        writer.set(name, "9.99", ex=300)
        print(f"   near.get('price-42') -> {near.get('price-42')!r}  (miss: read from Valkey)")
        print(f"   near.get('price-42') -> {near.get('price-42')!r}  (hit: from this process)")
        sent = time.perf_counter()
        writer.set(name, "7.49", ex=300)
        dropped = wait_until(lambda: len(near) == 0)
        ms = (time.perf_counter() - sent) * 1e3
        when = f"{ms:.2f} ms after the SET was sent" if dropped else "NOT within 2 s!"
        print(f"   another connection SETs 7.49 -> local copy dropped {when}")
        print(f"   near.get('price-42') -> {near.get('price-42')!r}  (miss: the fresh value)")

        near.get("price-42")
        hit = per_call(lambda: near.get("price-42"), LATENCY_ROUNDS)
        network = per_call(lambda: backend.client.get(name), LATENCY_ROUNDS)
        print(f"\n   latency over {LATENCY_ROUNDS} reads of the same key:")
        print(f"   near-cache hit  {hit * 1e6:8.2f} µs")
        print(f"   network GET     {network * 1e6:8.2f} µs  ({network / hit:.0f}x slower)")

        print("\n   If the tracking connection drops, invalidations may have been missed,")
        execute("CLIENT", "KILL", "ID", near.tracking_id)
        wait_until(lambda: not near.is_tracking)
        print(f"   so every copy goes: after CLIENT KILL, {len(near)} copies are left;")
        print(f"   the next read turns tracking on again -> {near.get('price-42')!r}")
        stats = near.stats
        print(
            f"   stats: {stats.hits} hits, {stats.misses} misses, "
            f"{stats.invalidations} invalidation, {stats.flushes} flush"
        )


def tag_invalidation(cache: Cache, pubsub: PubSub) -> None:
    """Tags name groups of entries that change together."""
    print("\n3. Tag invalidation — drop every entry about one thing at once")
    cache.set("product:1", {"name": "Valkey in Action"}, tags=["category:books"])
    cache.set("product:2", {"name": "Caching at Scale"}, tags=["category:books"])
    cache.set("product:3", {"name": "Space Cats"}, tags=["category:games"])
    print("   product:1, product:2 tagged category:books; product:3 tagged category:games")
    removed = cache.invalidate_tags("category:books")
    event = next_event(pubsub) or {}
    present = {key: cache.get(key) is not None for key in ("product:1", "product:2", "product:3")}
    print(f"   invalidate_tags('category:books') -> {removed} entries deleted")
    print(f"   event keys: {sorted(event.get('keys', []))}, tags: {event.get('tags')}")
    print(f"   still cached: {present}")


def cleanup(client: redis.Redis) -> int:
    """Delete every key this example wrote."""
    return delete_matching(client, f"{NAMESPACE}:*", f"{NEAR_NAMESPACE}:*")


def main() -> int:
    """Run the invalidation tour and return the exit status."""
    print("Example 7 — invalidation")
    with example_backend() as backend:
        client = backend.client
        cleanup(client)
        cache = Cache(client, namespace=NAMESPACE, ttl=300)
        pubsub = cast("PubSub", cast("Any", client).pubsub())  # untyped in redis-py
        pubsub.subscribe(cache.events_channel)
        try:
            pubsub_events(cache, pubsub)
            near_cache(backend)
            tag_invalidation(cache, pubsub)
        finally:
            pubsub.close()
        removed = cleanup(client)
        print(
            f"\nCleaned up {plural(removed, 'key')} under '{NAMESPACE}:'"
            f" and '{NEAR_NAMESPACE}:'. Done."
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
