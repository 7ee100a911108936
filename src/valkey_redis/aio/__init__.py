"""valkey_redis.aio: every helper for asyncio, on the same keys, entries and scripts as sync.

Use this in async code (FastAPI, Starlette, aiohttp)::

    from valkey_redis import aio

    client = aio.connect()
    cache = aio.Cache(client, namespace="demo", ttl=60)
    value = await cache.get_or_set("k", loader)

Not for: sync code (use :mod:`valkey_redis`); the two share data, so a sync worker
and an async web app can use the same cache, locks, limits and sessions.

How it fails: each helper fails as its sync twin (see their docstrings), and is
cancellation-safe: a cancelled fill releases its lock at once, a cancelled
acquire leaves no orphan lock, and a timeout never desynchronises a connection.

Design (one source of truth): the logic lives once, in an I/O-free core
(:mod:`valkey_redis.core` and the cache's ``_core``/``_store``/``_fill``): keys,
encoding, validation, script arguments, reply parsing and decisions, written as
*flows* -- generators that yield the commands they need. The sync faces drive
them with :mod:`valkey_redis._run`, these async faces with
:mod:`valkey_redis.aio._run`; a face only sends commands.
"""

from valkey_redis.aio import ratelimit as _limits
from valkey_redis.aio.cache import AsyncCachedFunction, Cache, CacheStats
from valkey_redis.aio.client import connect
from valkey_redis.aio.lock import Lock, LockError, LockLost, LockNotAcquired
from valkey_redis.aio.near_cache import NearCache, NearCacheStats
from valkey_redis.aio.session import SessionStore
from valkey_redis.aio.write_behind import Write, WriteBehind, WriteBehindFullError
from valkey_redis.core.ratelimit import OnError, RateLimitResult, rate_limit_headers

# The five limiters, under the names of the sync ones (type aliases, usable in hints).
GCRA = _limits.GCRA
FixedWindow = _limits.FixedWindow
SlidingWindowCounter = _limits.SlidingWindowCounter
SlidingWindowLog = _limits.SlidingWindowLog
TokenBucket = _limits.TokenBucket

__all__ = ["AsyncCachedFunction", "Cache", "CacheStats", "connect"]
__all__ += ["Lock", "LockError", "LockLost", "LockNotAcquired", "SessionStore"]
__all__ += ["GCRA", "FixedWindow", "SlidingWindowCounter", "SlidingWindowLog", "TokenBucket"]
__all__ += ["OnError", "RateLimitResult", "rate_limit_headers"]
__all__ += ["Write", "WriteBehind", "WriteBehindFullError"]
__all__ += ["NearCache", "NearCacheStats"]
