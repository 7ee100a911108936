"""valkey-redis: caching, sessions, locks and rate limiting on Valkey, safe by default.

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
