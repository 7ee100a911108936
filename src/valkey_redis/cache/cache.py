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

This module holds ``get_or_set`` (the hit path and XFetch) and write-through;
each other part is its own module: the plain operations (``_store``), the entry
format (``_entry``), the miss path (``_fill``, built on ``stampede``), batches
(``_batch``), tags (``tags``), the decorator (``cached``) and the counters (``_stats``).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterable
from typing import ParamSpec, TypeVar, cast

import redis
from redis.cluster import RedisCluster
from redis.exceptions import RedisError

from valkey_redis.cache._entry import NOT_FOUND, seconds
from valkey_redis.cache._fill import Filler
from valkey_redis.cache._stats import CacheStats
from valkey_redis.cache._store import CacheStore, Key
from valkey_redis.cache.cached import CachedFunction, decorate
from valkey_redis.cache.stampede import should_refresh_early
from valkey_redis.cache.tags import tag_list
from valkey_redis.serializers import Serializer

__all__ = ["Cache", "CacheStats", "CachedFunction"]

P = ParamSpec("P")
R = TypeVar("R")
V = TypeVar("V")

# random.random() returns k / 2**53, so -log(rand()) <= 53 * log(2) < 37 unless it
# returns exactly 0. An entry with more than 37 * delta * beta left cannot be due for
# an early refresh: a hit skips the draw (and the call) then.
_MAX_DRAW = 37.0


class Cache(CacheStore):
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

    def __init__(
        self,
        client: redis.Redis | RedisCluster,
        *,
        namespace: str,
        ttl: float,
        jitter: float = 0.1,
        serializer: Serializer | None = None,
        negative_ttl: float | None = None,
        lock_timeout: float = 10.0,
        wait_timeout: float = 10.0,
        early_refresh_beta: float = 1.0,
        publish_events: bool = True,
        rand: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(
            client,
            namespace=namespace,
            ttl=ttl,
            jitter=jitter,
            serializer=serializer,
            publish_events=publish_events,
        )
        self.negative_ttl = None if negative_ttl is None else seconds("negative_ttl", negative_ttl)
        self.lock_timeout = seconds("lock_timeout", lock_timeout)
        self.wait_timeout = seconds("wait_timeout", wait_timeout, allow_zero=True)
        self.early_refresh_beta = seconds("early_refresh_beta", early_refresh_beta, allow_zero=True)
        self._rand = rand or random.random
        # An injected rand is asked on every hit (tests rely on that); the default one
        # is skipped when its answer cannot matter (see _MAX_DRAW).
        self._skip_after = None if rand is not None else _MAX_DRAW * self.early_refresh_beta
        self._fill = Filler(
            client,
            namespace=namespace,
            codec=self._codec,
            health=self._health,
            write=self._write,
            negative_ttl=self.negative_ttl,
            lock_timeout=self.lock_timeout,
            wait_timeout=self.wait_timeout,
        )

    # --- cache-aside with stampede protection ----------------------------------

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
        tags_ = tag_list(tags) if tags else []
        if ttl is not None and not (type(ttl) in (int, float) and 0 < ttl < math.inf):
            seconds("ttl", ttl)  # fail on a hit too, not only on the next miss
        return self._get_or_set(key, self.redis_key(key), loader, ttl, tags_)

    def _get_or_set(
        self, key: Key, name: str, loader: Callable[[], V], ttl: float | None, tags: list[str]
    ) -> V:
        """get_or_set once the key is built and the arguments checked (the decorator's entry)."""
        try:
            raw, entry = self._lookup(name)
        except RedisError as exc:
            self._health.failed(exc, "get_or_set")
            return self._fill.call(loader)
        if entry is None:
            return self._fill.load(key, name, loader, ttl=ttl, tags=tags)
        value, expires_ms, delta_ms = entry
        if value is NOT_FOUND:
            value = None
        remaining_ms = expires_ms - time.time() * 1000
        skip_after = self._skip_after
        if skip_after is not None and remaining_ms > delta_ms * skip_after:
            return cast(V, value)  # far from expiry: no early refresh is possible
        due = should_refresh_early(
            remaining_ms / 1000, delta_ms / 1000, self.early_refresh_beta, self._rand
        )
        if not due or self._fill.busy(name):
            return cast(V, value)
        return self._fill.load(
            key, name, loader, ttl=ttl, tags=tags, seen=raw, current=cast(V, value)
        )

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
        tags_ = tag_list(tags)
        px = self._codec.px(ttl)
        entry = self._codec.encode(value, px)
        name = self.redis_key(key)
        save(value)
        try:
            self._write(name, entry, px, tags_, None)
            self._publish([name], [])
        except RedisError as exc:
            self._health.failed(exc, "write_through")
            try:
                self._client.delete(name)
            except RedisError as again:
                self._health.failed(again, "write_through invalidation")
            return False
        return True

    # --- the decorator --------------------------------------------------------

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
            return decorate(self, func, ttl=ttl, key=key, tags=tags)

        return decorator
