"""valkey-redis: caching, sessions, locks and rate limiting on Valkey, safe by default.

Use this in an application that talks to Valkey (or Redis) through redis-py::

    from valkey_redis import Cache, connect

    client = connect()  # VALKEY_URL, then REDIS_URL, then redis://localhost:6379/0
    cache = Cache(client, namespace="users", ttl=60)
    user = cache.get_or_set("42", lambda: {"id": 42})  # loads once on a miss

What is here (``help(valkey_redis.Cache)`` and so on for each):

- :func:`connect`: a redis-py client (``decode_responses=True``) with timeouts,
  retries inside a per-call budget and a circuit breaker (:func:`breaker_of`);
  :func:`describe` says which server answers.
- :class:`Cache`: cache-aside with stampede protection, refresh-ahead, tags,
  negative caching, ``write_through`` and the ``@cache.cached(ttl=...)`` decorator.
- :class:`SessionStore`, :class:`Lock` (fencing tokens), the rate limiters
  :class:`FixedWindow`, :class:`SlidingWindowLog`, :class:`SlidingWindowCounter`,
  :class:`TokenBucket`, :class:`GCRA`, :class:`NearCache` (client-side caching)
  and :class:`WriteBehind` (a Stream with a consumer group).
- :mod:`valkey_redis.aio`: the same helpers for asyncio, on the same keys.

Not for: a general Valkey client (use redis-py itself; the helpers take one).

How it fails: constructors never touch the network; a bad setting raises
``ValueError`` or ``TypeError`` at once, naming it. An unreachable or hung server
surfaces as ``redis.exceptions.ConnectionError`` (``CircuitOpenError`` once the
breaker opens), except where a helper documents a fallback: cache reads serve
the loader or the default, limiters follow their ``on_error``.

The public API is listed in ``__all__``; everything else is an implementation detail.
"""

from importlib.metadata import PackageNotFoundError, version

from valkey_redis import aio
from valkey_redis.breaker import BreakerSnapshot, CircuitBreaker, CircuitOpenError
from valkey_redis.cache import Cache, CachedFunction, CacheStats
from valkey_redis.client import breaker_of, breakers_of, connect, describe
from valkey_redis.lock import Lock, LockError, LockLost, LockNotAcquired
from valkey_redis.near_cache import NearCache, NearCacheStats
from valkey_redis.ratelimit import (
    GCRA,
    FixedWindow,
    OnError,
    RateLimitResult,
    SlidingWindowCounter,
    SlidingWindowLog,
    TokenBucket,
    rate_limit_headers,
)
from valkey_redis.serializers import JsonSerializer, PydanticSerializer, Serializer
from valkey_redis.session import SessionStore
from valkey_redis.write_behind import Write, WriteBehind, WriteBehindFullError

try:
    __version__ = version("valkey-redis")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "GCRA",
    "BreakerSnapshot",
    "Cache",
    "CacheStats",
    "CachedFunction",
    "CircuitBreaker",
    "CircuitOpenError",
    "FixedWindow",
    "JsonSerializer",
    "Lock",
    "LockError",
    "LockLost",
    "LockNotAcquired",
    "NearCache",
    "NearCacheStats",
    "OnError",
    "PydanticSerializer",
    "RateLimitResult",
    "Serializer",
    "SessionStore",
    "SlidingWindowCounter",
    "SlidingWindowLog",
    "TokenBucket",
    "Write",
    "WriteBehind",
    "WriteBehindFullError",
    "__version__",
    "aio",
    "breaker_of",
    "breakers_of",
    "connect",
    "describe",
    "rate_limit_headers",
]
