"""Exercise 11 — eviction and memory (reference solution).

LFU keeps keys by how often they are read. A scan reads each of its keys once,
so they start (and stay) with a low count and are evicted first, while the
popular keys survive. LRU keeps keys by how recently they were read, and a
scan makes every scanned key more recent than the popular ones: one crawler
is enough to flush an LRU cache. Because every key of this cache has a TTL,
``volatile-lfu`` (evict only among keys with a TTL) behaves the same as
``allkeys-lfu``; ``allkeys-lfu`` also copes with a key written without one.
"""

from __future__ import annotations

from typing import Any

import redis


def configure_for_cache(client: redis.Redis, maxmemory_bytes: int) -> None:
    """Set ``maxmemory`` to ``maxmemory_bytes`` and an eviction policy that resists scans."""
    client.config_set("maxmemory", maxmemory_bytes)
    client.config_set("maxmemory-policy", "allkeys-lfu")


def memory_report(client: redis.Redis) -> dict[str, float]:
    """Return ``used_memory``, ``maxmemory``, ``evicted_keys`` and ``hit_ratio`` from INFO."""
    # evicted_keys and the keyspace counters are in "stats", the sizes in "memory".
    memory: dict[str, Any] = client.info("memory")
    stats: dict[str, Any] = client.info("stats")
    hits, misses = int(stats["keyspace_hits"]), int(stats["keyspace_misses"])
    looked_up = hits + misses
    return {
        "used_memory": float(memory["used_memory"]),
        "maxmemory": float(memory["maxmemory"]),
        "evicted_keys": float(stats["evicted_keys"]),
        "hit_ratio": hits / looked_up if looked_up else 0.0,
    }
