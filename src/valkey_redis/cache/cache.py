"""Cache-aside on Valkey: get_or_set with stampede protection, refresh-ahead, tags and stats.

Use this when reads of slow data (a database query, an HTTP call) can be served
a little stale: ``cache.get_or_set(key, loader)`` (or ``@cache.cached(ttl=...)``)
returns the cached value, and on a miss runs the loader *once* -- across threads
and processes -- while everyone else waits for its result. Hot keys are
recomputed shortly before they expire (XFetch), so they never expire under load.

Not for: data that must never be stale (read the source), values JSON cannot
represent without a :class:`~valkey_redis.PydanticSerializer`, or a source of
truth (entries expire and may be evicted at any time).

How it fails:
- Server unreachable: ``get_or_set`` and the decorator serve the loader's value
  (after the client's own retries), ``get`` returns its default and
  ``get_many`` returns ``{}``; each counts ``stats.errors`` and logs one warning
  per :attr:`Cache.log_every` seconds. Writes and invalidations (``set``,
  ``set_many``, ``delete``, ``invalidate_tags``) raise the redis error: losing
  an invalidation silently would serve stale data. ``write_through`` is the
  exception: the source is already saved, so it returns False instead. On a
  :func:`~valkey_redis.connect` client a hung or dead server costs the first call
  about a second (the call budget); then the circuit breaker is open and every
  fallback is immediate, every write raises ``CircuitOpenError`` at once, until
  a probe finds the server again (see docs/failure-modes.md).
- Unreadable entries (garbage, another format, a planted pickle, bad UTF-8) are
  a miss and are deleted; nothing in them is ever executed.
- A failing loader caches nothing, releases its lock at once and its exception
  propagates -- to every thread of this process that was waiting on the same key.
- Stale windows: an entry lives at most its TTL (jitter only shortens it); a
  ``set`` racing with ``invalidate_tags`` can survive until its TTL.
- ``None`` from a loader is cached only with ``negative_ttl``; without it, every
  lookup of a missing row reaches the loader (other processes included).

Cost: a hit is one GET (one round trip) plus a JSON decode. A miss adds one
pipelined SET NX + GET for the lock and one script call that stores the value
and releases the lock; each tag adds one script call. ``set_many`` is one script
call for the whole batch, ``get_many`` one MGET.

Layout: the value lives at ``namespace:{key}`` as ``c1:<expires ms>:<load ms>:<payload>``
(the XFetch inputs travel with the value), its lock at ``namespace:{key}:lock``
-- one hash tag, so everything per key works on Valkey Cluster -- and tag index
sets at ``namespace:tags:<tag>``. Every key has a TTL, set in the same command
as its value.

This module is the sync face: :class:`Cache` runs the flows of the cache's core
(:mod:`valkey_redis.cache._core`) with blocking calls; :class:`valkey_redis.aio.Cache`
runs the same flows with awaits, so both read and write the same entries.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, ParamSpec, TypeVar, cast

import redis
from redis.cluster import RedisCluster

from valkey_redis._run import run
from valkey_redis.cache._core import CacheCore
from valkey_redis.cache._entry import seconds
from valkey_redis.cache._stats import CacheStats
from valkey_redis.cache._store import Key
from valkey_redis.cache.cached import CachedFunction, decorate
from valkey_redis.cache.stampede import SingleFlight

__all__ = ["Cache", "CacheStats", "CachedFunction"]

P = ParamSpec("P")
R = TypeVar("R")
V = TypeVar("V")


class Cache(CacheCore):
    """Cache-aside with stampede protection, refresh-ahead, tags and stats.

    Args:
        client: a ``redis.Redis`` (e.g. from :func:`valkey_redis.connect`) or a
            ``RedisCluster``; ``decode_responses`` may be on or off.
        namespace: prefix of every key, e.g. ``"products"``.
        ttl: default lifetime of an entry in seconds.
        jitter: each entry lives ``ttl * uniform(1 - jitter, 1)`` seconds, so keys
            written together do not expire together; 0 disables. Never longer than ttl.
        serializer: codec for values; :class:`~valkey_redis.JsonSerializer` by default.
        negative_ttl: when set, a loader result of ``None`` is cached as "not
            found" for this long; when None, ``None`` results are not cached.
        lock_timeout: lifetime of the cross-process loader lock; a crashed
            loader blocks others at most this long. Keep it above the slowest load.
        wait_timeout: how long a caller waits for another caller's load before
            running the loader itself.
        early_refresh_beta: XFetch eagerness (1.0 is optimal, 0 disables).
        publish_events: publish invalidations on :attr:`events_channel`.
        rand: uniform random numbers for XFetch; inject for deterministic tests.

    Raises:
        TypeError, ValueError: for a wrong client type or bad settings. The
            constructor never talks to the server.
    """

    _CLIENTS = (redis.Redis, RedisCluster)  # the flows run with blocking calls
    _CLIENT_HINT = "a redis.Redis or RedisCluster (for asyncio use valkey_redis.aio.Cache)"

    _FLIGHT = SingleFlight

    def get(self, key: Key, default: Any = None) -> Any:
        """Return the cached value of ``key``, or ``default`` when missing or unreadable.

        A cached "not found" also returns ``default``. On a server error this counts
        ``stats.errors``, logs (rate-limited) and returns ``default``.
        """
        return run(self._client, self._get_flow(key, default))

    def set(
        self, key: Key, value: Any, *, ttl: float | None = None, tags: Iterable[str] = ()
    ) -> None:
        """Store ``value`` under ``key`` for ``ttl`` seconds (default: the cache's ttl).

        Args:
            key: the key within the namespace.
            value: anything the serializer accepts.
            ttl: lifetime in seconds before jitter.
            tags: labels for :meth:`invalidate_tags`, e.g. ``["user:42"]``.

        Raises:
            TypeError: the value cannot be serialized (nothing is written).
            redis.exceptions.RedisError: the server is unreachable or refused.
        """
        run(self._client, self._set_flow(key, value, ttl, tags))

    def delete(self, *keys_: Key) -> int:
        """Delete entries; publish an invalidation event; return how many existed.

        Raises:
            redis.exceptions.RedisError: the server is unreachable.
        """
        return run(self._client, self._delete_flow(keys_))

    def get_many(self, keys_: Iterable[Key]) -> dict[Key, Any]:
        """Return ``{key: value}`` for the keys found, in one round trip (MGET).

        On a cluster the keys are fetched with one MGET per hash slot, sent in one
        pipeline. On a server error: counts ``stats.errors`` and returns ``{}``.

        Raises:
            TypeError: for a bare ``str`` or ``bytes`` (a common slip for ``[key]``).
        """
        return run(self._client, self._get_many_flow(keys_))

    def set_many(self, mapping: Mapping[Key, Any], *, ttl: float | None = None) -> None:
        """Store several entries in one round trip (one script: ``SET ... PX`` per entry).

        Every value is serialized before anything is sent, so a bad value writes
        nothing. On a single server the batch is atomic; on a cluster, per hash slot.

        Raises:
            TypeError: a value cannot be serialized.
            redis.exceptions.RedisError: the server is unreachable or refused.
        """
        run(self._client, self._set_many_flow(mapping, ttl))

    def invalidate_tags(self, *tags: str) -> int:
        """Delete every entry stored with any of ``tags``; return how many were deleted.

        Each tag's index is read (SMEMBERS), exactly those members are removed from
        it (SREM), then deleted (retry-safe, one script per hash slot) and one event
        is published. Every step is safe to repeat, so a lost reply is retried and
        the invalidation is applied, never silently skipped.

        Raises:
            redis.exceptions.RedisError: the server is unreachable.
        """
        return run(self._client, self._invalidate_tags_flow(tags))

    def get_or_set(
        self,
        key: Key,
        loader: Callable[[], V],
        *,
        ttl: float | None = None,
        tags: Iterable[str] = (),
    ) -> V:
        """Return the cached value of ``key``; on a miss call ``loader`` once and cache it.

        Concurrent misses of one key run ``loader`` once: threads of this process
        share its result (or its exception); other processes wait on a lock key in
        Valkey, polling for the value, and take over if the lock expires. After
        ``wait_timeout`` a waiter calls ``loader`` itself. A hit may trigger an
        early refresh (XFetch) by this caller while others keep getting the value.

        Args:
            key: the key within the namespace.
            loader: computes the value; ``None`` is cached only with ``negative_ttl``.
            ttl: lifetime in seconds (default: the cache's ttl).
            tags: labels for :meth:`invalidate_tags`.

        Raises:
            Exception: whatever ``loader`` raises (nothing is cached).
        """
        tags_ = self._check(ttl, tags)
        return run(
            self._client, self._get_or_set_flow(key, self.redis_key(key), loader, ttl, tags_)
        )

    def _get_or_set(
        self, key: Key, name: str, loader: Callable[[], V], ttl: float | None, tags: list[str]
    ) -> V:
        """get_or_set once the key is built and the arguments checked (the decorator's entry)."""
        return run(self._client, self._get_or_set_flow(key, name, loader, ttl, tags))

    def write_through(
        self,
        key: Key,
        value: V,
        save: Callable[[V], None],
        *,
        ttl: float | None = None,
        tags: Iterable[str] = (),
    ) -> bool:
        """Save ``value`` to the source of truth, then cache it.

        Args:
            key: the cache key.
            value: the new value.
            save: writes ``value`` to the source; if it raises, the cache is left
                untouched and the error propagates.
            ttl: lifetime in seconds.
            tags: labels for :meth:`invalidate_tags`.

        Returns:
            True when the cache holds the new value. False when the cache write
            failed (counted in ``stats.errors``): the entry was then deleted, or,
            if the server is unreachable, the old entry lives until its TTL.

        Raises:
            TypeError: the value cannot be serialized (checked before ``save``).
        """
        return run(self._client, self._write_through_flow(key, value, save, ttl, tags))

    def cached(
        self,
        *,
        ttl: float,
        key: Callable[..., Key] | None = None,
        tags: Iterable[str] | Callable[..., Iterable[str]] = (),
    ) -> Callable[[Callable[P, R]], CachedFunction[P, R]]:
        """Cache a function's results with :meth:`get_or_set` (stampede-protected).

        Args:
            ttl: lifetime in seconds; required, because only you know how stale is fine.
            key: builds the key part from the call's arguments; by default the
                arguments bound to the signature, as canonical JSON
                (:func:`valkey_redis.keys.argument_key`), so ``f(1)`` and ``f(x=1)`` match.
                On methods pass one, e.g. ``key=lambda self, user_id: user_id``:
                ``self`` has no JSON form.
            tags: tags for every result, or a function of the call's arguments
                returning them, e.g. ``tags=lambda user_id: [f"user:{user_id}"]``.

        Returns:
            A decorator; the wrapped function has ``.invalidate(*args, **kwargs)``
            and ``.cache_key(*args, **kwargs)``.

        Example:
            >>> @cache.cached(ttl=60)  # doctest: +SKIP
            ... def load_user(user_id: int) -> dict[str, object]: ...
        """
        seconds("ttl", ttl)

        def decorator(func: Callable[P, R]) -> CachedFunction[P, R]:
            return cast(CachedFunction[P, R], decorate(self, func, ttl=ttl, key=key, tags=tags))

        return decorator
