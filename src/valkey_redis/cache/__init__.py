"""The cache: cache-aside with stampede protection, refresh-ahead, tags and stats.

Use this through :class:`valkey_redis.Cache` (threads) or
:class:`valkey_redis.aio.Cache` (asyncio); both read and write the same entries.
Not for: data that must never be stale, or a source of truth.
How it fails: see :mod:`valkey_redis.cache.cache` (reads degrade to the loader or
a default, writes and invalidations raise, unreadable entries are a miss).

The files of the cache, in reading order:

- ``cache`` -- :class:`Cache`: ``get_or_set`` (the hit path, XFetch), write-through.
- ``_store`` -- the plain operations: get, set, delete, batches, tags.
- ``_entry`` -- the entry format ``c1:<expires ms>:<load ms>:<payload>`` and TTLs.
- ``_fill`` -- the miss path: one loader call per key across threads and processes.
- ``stampede`` -- the building blocks: XFetch, in-process single-flight, the fill lock.
- ``_batch`` -- MGET and the set_many script, per hash slot on a cluster.
- ``tags`` -- tag index sets and their invalidation.
- ``cached`` -- the ``@cache.cached(ttl=...)`` decorator.
- ``_stats`` -- counters and rate-limited warnings.
"""

from valkey_redis.cache._stats import CacheStats
from valkey_redis.cache.cache import Cache
from valkey_redis.cache.cached import CachedFunction

__all__ = ["Cache", "CacheStats", "CachedFunction"]
