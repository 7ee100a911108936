"""A correct exercise 11 written differently: volatile-lfu, and one INFO for everything.

Every key this cache writes has a TTL, so volatile-lfu (evict only keys with a
TTL, least frequently used first) behaves like allkeys-lfu. ``INFO`` without a
section returns every field at once; ``maxmemory`` could come from CONFIG GET too.
"""

from __future__ import annotations

from typing import Any

import redis


def configure_for_cache(client: redis.Redis, maxmemory_bytes: int) -> None:
    """maxmemory as a string of bytes, then volatile-lfu."""
    client.config_set("maxmemory", str(maxmemory_bytes))
    client.config_set("maxmemory-policy", "volatile-lfu")


def memory_report(client: redis.Redis) -> dict[str, float]:
    """Everything from one INFO (all sections)."""
    info: dict[str, Any] = client.info()
    hits, misses = info["keyspace_hits"], info["keyspace_misses"]
    return {
        "used_memory": info["used_memory"],
        "maxmemory": info["maxmemory"],
        "evicted_keys": info["evicted_keys"],
        "hit_ratio": float(hits) / (hits + misses) if hits + misses > 0 else 0.0,
    }
