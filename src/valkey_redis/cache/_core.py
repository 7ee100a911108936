"""The cache's core: the settings and flows of get_or_set (XFetch) and write-through.

Use this through the faces: :class:`valkey_redis.Cache` (``cache.py``, blocking
calls) and :class:`valkey_redis.aio.Cache` (awaits). :class:`CacheCore` holds
the settings and, on top of the plain operations of ``_store``, the flows that
decide: hit or miss, refresh early (XFetch) or not, load once (``_fill``, built
on ``stampede``); the entry format is ``_entry``, batches ``_batch``, tags
``tags``, the decorator ``cached``, the counters ``_stats``. A face only sends
commands, so both faces read and write the same entries the same way.

Not for: reading on its own; the faces document the API.

How it fails: as :mod:`valkey_redis.cache.cache` documents, for both faces.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, cast

from redis.exceptions import RedisError

from valkey_redis.cache._entry import NOT_FOUND, Entry, seconds
from valkey_redis.cache._fill import Filler
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

    The faces only add their client classes, their single-flights and the calls
    that run these flows; the constructor is this one.
    """

    def __init__(
        self,
        client: Any,
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
            self._FLIGHT(),
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
