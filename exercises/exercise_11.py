"""Exercise 11 — eviction and memory.

Before you start: read "5. Memory and eviction" in docs/concepts.md, run `make example-6`.
Then replace each `raise NotImplementedError` and run `make grade EX=11`.
Stuck? `make hint EX=11`. Solved? Compare with exercises/solutions/exercise_11.py.

A cache is allowed to forget. With `maxmemory` set, Valkey evicts keys when it is
full, and the eviction policy decides which: the least recently used, the least
frequently used, the closest to expiry, any at random, only keys with a TTL, or
none at all (then writes fail). `INFO` says how it is going.
`client` is a redis-py client with `decode_responses=True`.

fakeredis has no eviction and no INFO: this exercise is graded on the real
(embedded) Valkey only, and `make grade` says so.

Tasks:
1. configure_for_cache — set maxmemory and the right eviction policy.
2. memory_report       — memory, evictions and the hit ratio, from INFO.
"""

from __future__ import annotations

import redis


def configure_for_cache(client: redis.Redis, maxmemory_bytes: int) -> None:
    """Set ``maxmemory`` to exactly ``maxmemory_bytes`` and pick the eviction policy.

    The cache: every key it writes has a TTL; most reads go to a small set of
    popular keys; now and then a large scan (a crawler, a report, a backfill)
    reads many keys once each. Choose the ``maxmemory-policy`` that keeps the
    popular keys through such a scan. It must evict (a cache that refuses writes
    when full is broken). The grader fills a small server with that workload
    under your settings and under the other policies, and compares the hit
    ratios after the scan: yours must be as good as the best of them (within
    4 points).
    """
    # TODO: CONFIG SET maxmemory (client.config_set).
    # TODO: CONFIG SET maxmemory-policy: which policy survives a scan?
    raise NotImplementedError


def memory_report(client: redis.Redis) -> dict[str, float]:
    """Return ``used_memory``, ``maxmemory``, ``evicted_keys`` and ``hit_ratio`` from INFO.

    ``used_memory`` (bytes in use: INFO memory's ``used_memory``, not the
    process's RSS), ``maxmemory`` (the limit, 0 for none) and
    ``evicted_keys`` (keys evicted since the stats were last reset) as the
    server reports them; ``hit_ratio`` is keyspace_hits / (keyspace_hits +
    keyspace_misses), and 0.0 when there were no hits and no misses yet.
    """
    # TODO: the fields live in two INFO sections: client.info("memory"), client.info("stats").
    # TODO: compute the hit ratio, without dividing by zero.
    raise NotImplementedError
