"""Fill a missed cache key once, across threads and processes, then store it with its TTL.

Use this behind ``Cache.get_or_set`` and ``aio.Cache.get_or_set``: when a key is
missing (or due for an early refresh), the :meth:`Filler.load` flow makes sure one
caller runs the loader while the others wait for its result -- threads or tasks of
this process through the face's single-flight (a
:class:`~valkey_redis.core.flow.Merge` effect), other processes through a lock key
in Valkey (:func:`~valkey_redis.cache.stampede.lead_or_wait`) -- and stores the
result with one script that also releases the lock.

Not for: loaders with side effects that must run exactly once. The lock expires
after ``lock_timeout``; a loader slower than that can run twice. Use
:class:`valkey_redis.Lock` (fencing tokens) for mutual exclusion.

How it fails:
- A failing loader caches nothing, releases its lock at once, and its exception
  propagates -- to every thread or task of this process waiting on the same key.
- A cancelled loader (a task cancelled, ``asyncio.timeout()``) releases its lock
  at once too; waiting tasks of this process start over (one of them loads) and
  other processes take the lock at their next poll: nobody waits for its TTL.
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
from typing import Protocol, TypeVar, cast

from redis.exceptions import RedisError

from valkey_redis.cache._entry import NOT_FOUND, Entry, EntryCodec
from valkey_redis.cache._stats import Health
from valkey_redis.cache.stampede import WaitTimeoutError, lead_or_wait
from valkey_redis.core.flow import Call, Eval, Flow, Merge
from valkey_redis.core.scripts import script
from valkey_redis.serializers import SerializationError

__all__ = ["Filler", "Flight"]

V = TypeVar("V")
Lock = tuple[str, str]  # (lock key, our token)
#: Stores (full key, entry, px, tags, lock to release or None); see ``StoreCore._write``.
Write = Callable[[str, str, int, list[str], Lock | None], Flow[None]]
_UNLOCK = script("cache_unlock")


class Flight(Protocol):
    """The face's single-flight: ``SingleFlight`` (threads) or ``TaskFlight`` (tasks)."""

    def busy(self, key: str) -> bool:
        """Return True while a call for ``key`` is in flight in this process."""
        ...


class Filler:
    """The miss path of one cache, as flows; see the module docstring.

    Args:
        flight: merges concurrent loads of one key in this process.
        namespace: the cache's namespace (lock keys are ``namespace:{key}:lock``).
        codec: encodes loaded values and picks their TTLs.
        health: counts loads and errors, and warns.
        write: stores an entry and its tags, releasing a lock (``StoreCore._write``).
        negative_ttl: how long to cache a ``None`` result; None: not at all.
        lock_timeout: lifetime of the cross-process lock.
        wait_timeout: how long to wait for someone else's load before loading.
    """

    def __init__(
        self,
        flight: Flight,
        *,
        namespace: str,
        codec: EntryCodec,
        health: Health,
        write: Write,
        negative_ttl: float | None,
        lock_timeout: float,
        wait_timeout: float,
    ) -> None:
        self._flight = flight
        self._namespace = namespace
        self._codec = codec
        self._health = health
        self._write = write
        self._negative_ttl = negative_ttl
        self._lock_timeout = lock_timeout
        self._wait_timeout = wait_timeout

    def busy(self, name: str) -> bool:
        """Return True while this process is loading the entry at ``name``."""
        return self._flight.busy(name)

    def call(self, loader: Callable[[], V]) -> Flow[V]:
        """Run ``loader`` uncached and count it."""
        value = cast(V, (yield Call(loader)))
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
    ) -> Flow[V]:
        """Load ``key`` once for every concurrent caller of this process, and store it.

        Args:
            key: the key within the namespace (it names the lock).
            name: the full Valkey key of the entry.
            loader: computes the value (a plain or, in the async face, an async callable).
            ttl: lifetime in seconds (None: the cache's ttl).
            tags: validated tags for the entry.
            seen: for an early refresh, the bytes read on the hit: only a
                *different* value written meanwhile counts as fresh.
            current: for an early refresh, the value to serve if someone else
                is already refreshing.

        Raises:
            Exception: whatever ``loader`` raises (nothing is cached).
        """
        once = self._lead_or_wait(key, name, loader, ttl, tags, seen=seen, current=current)
        try:
            return cast(V, (yield Merge(self._flight, name, once, self._wait_timeout)))
        except WaitTimeoutError:
            if seen is not None:
                return cast(V, current)
            self._health.warn(f"waited {self._wait_timeout}s for another load of {name!r}; loading")
            return (yield from self._load_and_store(name, loader, ttl, tags, None))

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
    ) -> Flow[V]:
        """Across processes: take the lock and load, or wait for whoever holds it."""
        lock = (f"{name}:lock", secrets.token_hex(16))  # namespace:{key}:lock, one hash tag
        try:
            held, fresh = yield from lead_or_wait(
                name,
                *lock,
                lock_timeout=self._lock_timeout,
                wait_timeout=self._wait_timeout,
                fresh=self._readable,
                seen=seen,
            )
        except RedisError as exc:
            self._health.failed(exc, "get_or_set")
            return (yield from self.call(loader))
        if fresh is not None:
            if held:
                yield from self._release(lock)
            value = fresh[0]
            return cast(V, None if value is NOT_FOUND else value)
        if held:
            return (yield from self._load_and_store(name, loader, ttl, tags, lock))
        if seen is not None:  # an early refresh is already running elsewhere
            return cast(V, current)
        self._health.warn(f"waited {self._wait_timeout}s for another load of {name!r}; loading")
        return (yield from self._load_and_store(name, loader, ttl, tags, None))

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
    ) -> Flow[V]:
        started = time.monotonic()
        entry = None
        try:
            value = yield from self.call(loader)
            if value is not None:
                px = self._codec.px(ttl)
                entry = self._codec.encode(value, px, time.monotonic() - started)
            elif self._negative_ttl is not None:
                px = self._codec.px(self._negative_ttl)
                entry = self._codec.encode(NOT_FOUND, px)
        except GeneratorExit:
            raise  # the flow was closed, not interrupted: nothing may be sent now
        except BaseException:
            if lock is not None:
                yield from self._release(lock)  # failed or cancelled: next caller loads at once
            raise
        if entry is None:
            if lock is not None:
                yield from self._release(lock)
            return value
        try:
            yield from self._write(name, entry, px, tags, lock)
        except RedisError as exc:
            self._health.failed(exc, "storing a loaded value")  # the lock expires by itself
        except GeneratorExit:
            raise
        except BaseException:
            # Cancelled while storing: the write (which frees the lock) may not have
            # run. Free it now (compare-and-delete: a no-op if the write did run), so
            # the waiters do not wait for its TTL.
            if lock is not None:
                yield from self._release(lock)
            raise
        return value

    def _release(self, lock: Lock) -> Flow[None]:
        try:
            yield Eval(_UNLOCK, (lock[0],), (lock[1],))
        except RedisError as exc:
            self._health.failed(exc, "lock release")
