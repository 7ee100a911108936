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
  exception: the source is already saved, so it returns False instead.
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

This module is the cache's core: :class:`CacheCore` holds the settings and the
flows of ``get_or_set`` (the hit path and XFetch) and write-through, on top of the
plain operations (``_store``); the entry format (``_entry``), the miss path
(``_fill``, built on ``stampede``), batches (``_batch``), tags (``tags``), the
decorator (``cached``) and the counters (``_stats``) are their own modules. The
faces -- :class:`valkey_redis.Cache` (``cache.py``) and
:class:`valkey_redis.aio.Cache` -- only run these flows.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, cast

from redis.exceptions import RedisError

from valkey_redis.cache._entry import NOT_FOUND, Entry, seconds
from valkey_redis.cache._fill import Filler, Flight
from valkey_redis.cache._store import Key, StoreCore
from valkey_redis.cache.stampede import should_refresh_early
from valkey_redis.cache.tags import tag_list
from valkey_redis.core.flow import Call, Command, Flow
from valkey_redis.serializers import Serializer

__all__ = ["CacheCore"]

V = TypeVar("V")

# random.random() returns k / 2**53, so -log(rand()) <= 53 * log(2) < 37 unless it
# returns exactly 0. An entry with more than 37 * delta * beta left cannot be due for
# an early refresh: a hit skips the draw (and the call) then.
_MAX_DRAW = 37.0


class CacheCore(StoreCore):
    """Settings and flows of a cache; the arguments are documented on :class:`valkey_redis.Cache`.

    ``flight`` is the face's single-flight for concurrent misses in this process;
    ``reads``, when given, merges concurrent GETs of one key too (the async face).
    """

    def __init__(
        self,
        client: Any,
        *,
        flight: Flight,
        reads: Flight | None = None,
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
            reads=reads,
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
            flight,
            namespace=namespace,
            codec=self._codec,
            health=self._health,
            write=self._write,
            negative_ttl=self.negative_ttl,
            lock_timeout=self.lock_timeout,
            wait_timeout=self.wait_timeout,
        )

    # --- cache-aside with stampede protection ----------------------------------

    def _check(self, ttl: float | None, tags: Iterable[str]) -> list[str]:
        """Validate get_or_set's ``ttl`` and ``tags`` (on a hit too, not only on a miss)."""
        tags_ = tag_list(tags) if tags else []
        if ttl is not None and not (type(ttl) in (int, float) and 0 < ttl < math.inf):
            seconds("ttl", ttl)
        return tags_

    def _get_or_set_flow(
        self,
        key: Key,
        name: str,
        loader: Callable[[], V],
        ttl: float | None,
        tags: list[str],
        *,
        read: tuple[bytes | None, Entry | None] | None = None,
    ) -> Flow[V]:
        """get_or_set once the key is built and the arguments checked.

        ``read``: the ``(raw, entry)`` of a GET the face already sent (its hit path).
        """
        if read is None:
            try:
                read = yield from self._lookup(name)
            except RedisError as exc:
                self._health.failed(exc, "get_or_set")
                return (yield from self._fill.call(loader))
        raw, entry = read
        if entry is None:
            return (yield from self._fill.load(key, name, loader, ttl=ttl, tags=tags))
        done, value = self._settled(name, entry)
        if done:
            return cast(V, value)
        return (
            yield from self._fill.load(
                key, name, loader, ttl=ttl, tags=tags, seen=raw, current=cast(V, value)
            )
        )

    def _settled(self, name: str, entry: Entry) -> tuple[bool, Any]:
        """``(True, value)`` for a hit that needs nothing more; ``(False, value)``: refresh early.

        XFetch: a hit close enough to expiry, drawn as due, and not already being
        refreshed in this process, is refreshed by this caller (others keep the value).
        """
        value, expires_ms, delta_ms = entry
        if value is NOT_FOUND:
            value = None
        remaining_ms = expires_ms - time.time() * 1000
        skip_after = self._skip_after
        if skip_after is not None and remaining_ms > delta_ms * skip_after:
            return True, value  # far from expiry: no early refresh is possible
        due = should_refresh_early(
            remaining_ms / 1000, delta_ms / 1000, self.early_refresh_beta, self._rand
        )
        return not due or self._fill.busy(name), value

    def _write_through_flow(
        self,
        key: Key,
        value: V,
        save: Callable[[V], object],
        ttl: float | None,
        tags: Iterable[str],
    ) -> Flow[bool]:
        tags_ = tag_list(tags)
        px = self._codec.px(ttl)
        entry = self._codec.encode(value, px)
        name = self.redis_key(key)
        yield Call(lambda: save(value))
        try:
            yield from self._write(name, entry, px, tags_, None)
            yield from self._publish([name], [])
        except RedisError as exc:
            self._health.failed(exc, "write_through")
            try:
                yield Command(("DEL", name))
            except RedisError as again:
                self._health.failed(again, "write_through invalidation")
            return False
        return True
