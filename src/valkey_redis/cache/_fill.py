"""Fill a missed cache key once, across threads and processes, then store it with its TTL.

Use this behind ``Cache.get_or_set``: when a key is missing (or due for an early
refresh), :meth:`Filler.load` makes sure one caller runs the loader while the
others wait for its result -- threads of this process through
:class:`~valkey_redis.cache.stampede.SingleFlight`, other processes through a lock key
in Valkey (:func:`~valkey_redis.cache.stampede.lead_or_wait`) -- and stores the result
with one script that also releases the lock.

Not for: loaders with side effects that must run exactly once. The lock expires
after ``lock_timeout``; a loader slower than that can run twice. Use
:class:`valkey_redis.Lock` (fencing tokens) for mutual exclusion.

How it fails:
- A failing loader caches nothing, releases its lock at once, and its exception
  propagates -- to every thread of this process that was waiting on the same key.
- A crashed loader's lock blocks other processes until it expires
  (``lock_timeout``); a waiter gives up after ``wait_timeout`` and loads itself.
- Server unreachable: the loader's value is served uncached (``stats.errors``
  counts it); a lock we took expires by itself.
- ``None`` from a loader is cached only with ``negative_ttl``; without it, every
  lookup of a missing row reaches the loader (other processes included).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

import redis
from redis.cluster import RedisCluster
from redis.exceptions import RedisError

from valkey_redis.cache._entry import NOT_FOUND, Entry, EntryCodec, load_script
from valkey_redis.cache._stats import Health
from valkey_redis.cache.stampede import SingleFlight, WaitTimeoutError, lead_or_wait
from valkey_redis.serializers import SerializationError

__all__ = ["Filler"]

V = TypeVar("V")
Lock = tuple[str, str]  # (lock key, our token)
#: Stores (full key, entry, px, tags, lock to release or None); see ``CacheStore._write``.
Write = Callable[[str, str, int, list[str], Lock | None], None]


class Filler:
    """Loads and stores the missed entries of one cache; see the module docstring.

    Args:
        client: the cache's client.
        namespace: the cache's namespace (lock keys are ``namespace:{key}:lock``).
        codec: encodes loaded values and picks their TTLs.
        health: counts loads and errors, and warns.
        write: stores an entry and its tags, releasing a lock (``CacheStore._write``).
        negative_ttl: how long to cache a ``None`` result; None: not at all.
        lock_timeout: lifetime of the cross-process lock.
        wait_timeout: how long to wait for someone else's load before loading.
    """

    def __init__(
        self,
        client: redis.Redis | RedisCluster,
        *,
        namespace: str,
        codec: EntryCodec,
        health: Health,
        write: Write,
        negative_ttl: float | None,
        lock_timeout: float,
        wait_timeout: float,
    ) -> None:
        self._client = client
        self._namespace = namespace
        self._codec = codec
        self._health = health
        self._write = write
        self._negative_ttl = negative_ttl
        self._lock_timeout = lock_timeout
        self._wait_timeout = wait_timeout
        self._flight: SingleFlight[Any] = SingleFlight()
        self._unlock = load_script(client, "cache_unlock.lua")

    def busy(self, name: str) -> bool:
        """Return True while this process is loading the entry at ``name``."""
        return self._flight.busy(name)

    def call(self, loader: Callable[[], V]) -> V:
        """Run ``loader`` uncached and count it."""
        value = loader()
        self._health.loaded()
        return value

    def load(
        self,
        key: str | int,
        name: str,
        loader: Callable[[], V],
        *,
        ttl: float | None,
        tags: list[str],
        seen: bytes | None = None,
        current: V | None = None,
    ) -> V:
        """Load ``key`` once for every concurrent caller of this process, and store it.

        Args:
            key: the key within the namespace (it names the lock).
            name: the full Valkey key of the entry.
            loader: computes the value.
            ttl: lifetime in seconds (None: the cache's ttl).
            tags: validated tags for the entry.
            seen: for an early refresh, the bytes read on the hit: only a
                *different* value written meanwhile counts as fresh.
            current: for an early refresh, the value to serve if someone else
                is already refreshing.

        Raises:
            Exception: whatever ``loader`` raises (nothing is cached).
        """

        def once() -> V:
            return self._lead_or_wait(key, name, loader, ttl, tags, seen=seen, current=current)

        try:
            return cast(V, self._flight.run(name, once, timeout=self._wait_timeout))
        except WaitTimeoutError:
            if seen is not None:
                return cast(V, current)
            self._health.warn(f"waited {self._wait_timeout}s for another load of {name!r}; loading")
            return self._load_and_store(name, loader, ttl, tags, None)

    def _lead_or_wait(
        self,
        key: str | int,
        name: str,
        loader: Callable[[], V],
        ttl: float | None,
        tags: list[str],
        *,
        seen: bytes | None,
        current: V | None,
    ) -> V:
        """Across processes: take the lock and load, or wait for whoever holds it."""
        lock = (f"{name}:lock", secrets.token_hex(16))  # namespace:{key}:lock, one hash tag
        try:
            held, fresh = lead_or_wait(
                self._client,
                name,
                *lock,
                lock_timeout=self._lock_timeout,
                wait_timeout=self._wait_timeout,
                fresh=self._readable,
                seen=seen,
            )
        except RedisError as exc:
            self._health.failed(exc, "get_or_set")
            return self.call(loader)
        if fresh is not None:
            if held:
                self._release(lock)
            value = fresh[0]
            return cast(V, None if value is NOT_FOUND else value)
        if held:
            return self._load_and_store(name, loader, ttl, tags, lock)
        if seen is not None:  # an early refresh is already running elsewhere
            return cast(V, current)
        self._health.warn(f"waited {self._wait_timeout}s for another load of {name!r}; loading")
        return self._load_and_store(name, loader, ttl, tags, None)

    def _readable(self, raw: bytes) -> Entry | None:
        try:
            return self._codec.decode(raw)
        except SerializationError:
            return None  # unreadable: the loader's value will overwrite it

    def _load_and_store(
        self,
        name: str,
        loader: Callable[[], V],
        ttl: float | None,
        tags: list[str],
        lock: Lock | None,
    ) -> V:
        started = time.monotonic()
        entry = None
        try:
            value = self.call(loader)
            if value is not None:
                px = self._codec.px(ttl)
                entry = self._codec.encode(value, px, time.monotonic() - started)
            elif self._negative_ttl is not None:
                px = self._codec.px(self._negative_ttl)
                entry = self._codec.encode(NOT_FOUND, px)
        except BaseException:
            if lock is not None:
                self._release(lock)  # let the next caller load at once
            raise
        if entry is None:
            if lock is not None:
                self._release(lock)
            return value
        try:
            self._write(name, entry, px, tags, lock)
        except RedisError as exc:
            self._health.failed(exc, "storing a loaded value")  # the lock expires by itself
        return value

    def _release(self, lock: Lock) -> None:
        try:
            self._unlock(keys=[lock[0]], args=[lock[1]])
        except RedisError as exc:
            self._health.failed(exc, "lock release")
