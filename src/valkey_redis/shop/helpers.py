"""The shop's helpers on :mod:`valkey_redis.aio`: product cache, sessions, limits, lock, views.

Use: :class:`~valkey_redis.shop.state.Shop` builds one of each on its
:class:`~valkey_redis.shop.valkey.Valkey`; routes await them. Every Valkey call
goes through ``Valkey.call`` (budget, breaker, one failure per request).

Not for: reuse outside the shop; each wraps one library helper with the shop's
fallback policy.

How it fails: :class:`ProductCache` serves the database on any Valkey failure
(a MISS) and :class:`Limiter` allows the request (``fallback=True``); sessions,
the lock and invalidations raise ``redis.exceptions.ConnectionError``;
:class:`Views` raises too, and the route counts the view as lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import redis

from valkey_redis import WriteBehindFullError, aio
from valkey_redis.ratelimit import RateLimitResult
from valkey_redis.shop.valkey import Valkey
from valkey_redis.write_behind import Write

__all__ = ["CartLock", "Limiter", "ProductCache", "Sessions", "Views"]

_MISSING = object()
Loader = Callable[[], Awaitable[dict[str, Any] | None]]


class ProductCache:
    """Products cached by id (negative entries for unknown ids), tagged for invalidation."""

    def __init__(
        self, valkey: Valkey, *, ttl: float, negative_ttl: float, stampede_protection: bool
    ) -> None:
        self._valkey = valkey
        # A load takes ~80 ms: a waiter gives another request's load 0.5 s, then loads
        # itself; a fill lock left by a request that lost Valkey mid-fill lives 2 s.
        self._cache = aio.Cache(
            valkey.client,
            namespace="shop.product",
            ttl=ttl,
            negative_ttl=negative_ttl,
            lock_timeout=2.0,
            wait_timeout=0.5,
        )
        self._protected = stampede_protection

    @staticmethod
    def tag(pid: int) -> str:
        """The tag of product ``pid``'s entries."""
        return f"product:{pid}"

    async def get(self, pid: int, load: Loader) -> tuple[Any, bool]:
        """``(product or None, hit)``; ``hit`` is False when this call ran ``load``.

        The hit path is one GET under the call budget; only a miss goes on to
        ``get_or_set`` (one loader per key across tasks and processes), or to
        get-then-set when stampede protection is off.
        """
        loaded, loading = False, 0.0

        async def loader() -> dict[str, Any] | None:
            nonlocal loaded, loading
            loaded, began = True, time.monotonic()
            try:
                return await load()
            finally:
                loading += time.monotonic() - began

        cache, tags = self._cache, [self.tag(pid)]
        errors = cache.stats.errors
        try:
            value = await self._valkey.call(lambda: cache.get(pid, _MISSING))
            if value is _MISSING and cache.stats.errors == errors:
                if self._protected:
                    fill = lambda: cache.get_or_set(pid, loader, tags=tags)  # noqa: E731
                    began = time.monotonic()
                    try:
                        value = await self._valkey.call(fill, budget=False)
                    finally:  # the fill's own Valkey commands, not the database
                        self._valkey.add_wait(time.monotonic() - began - loading)
                else:
                    value = await loader()
                    await self._valkey.call(lambda: cache.set(pid, value, tags=tags))
        except redis.RedisError:  # skipped, breaker open, or a failed write
            return (await load(), False) if not loaded else (value, False)
        if cache.stats.errors > errors:  # the cache fell back (a miss) on a server error
            self._valkey.failed()
            if value is _MISSING:
                return await loader(), False
        return value, not loaded

    async def invalidate(self, pid: int) -> int:
        """Delete every entry tagged with product ``pid``; errors propagate."""
        return await self._valkey.call(lambda: self._cache.invalidate_tags(self.tag(pid)))

    @property
    def errors(self) -> int:
        """Cache server errors absorbed by a fallback so far."""
        return self._cache.stats.errors


class Sessions:
    """Server-side sessions (:class:`valkey_redis.aio.SessionStore`)."""

    def __init__(self, valkey: Valkey, *, ttl: float) -> None:
        self._valkey = valkey
        self._store = aio.SessionStore(valkey.client, ttl=ttl, prefix="shop.session")

    async def create(self, user_id: int, **data: Any) -> str:
        """A new session id for ``user_id``."""
        return await self._valkey.call(lambda: self._store.create(user_id=user_id, data=data))

    async def get(self, sid: str) -> dict[str, Any] | None:
        """The session's data, or None (unknown, expired, forged)."""
        return await self._valkey.call(lambda: self._store.get(sid))

    async def rotate(self, sid: str) -> str | None:
        """A new id for the same session; None when the old one is not live."""
        return await self._valkey.call(lambda: self._store.rotate(sid))

    async def destroy(self, sid: str) -> bool:
        """End one session."""
        return await self._valkey.call(lambda: self._store.destroy(sid))

    async def destroy_all(self, user_id: int) -> int:
        """End every session of ``user_id``; how many there were."""
        return await self._valkey.call(lambda: self._store.destroy_all(user_id=user_id))


class Limiter:
    """A GCRA limiter that allows the request when Valkey cannot answer (fail open)."""

    def __init__(self, valkey: Valkey, *, name: str, limit: int, window: float) -> None:
        self._valkey = valkey
        self.name, self.limit, self.window = name, limit, window
        self._gcra = aio.GCRA(
            valkey.client, limit=limit, window=window, prefix=f"shop.rl.{name}", on_error="raise"
        )

    async def hit(self, key: str) -> RateLimitResult:
        """Take one request for ``key``; allowed (``fallback``) when Valkey cannot answer."""
        try:
            return await self._valkey.call(lambda: self._gcra.hit(key))
        except redis.RedisError:
            return RateLimitResult(True, self.limit, self.limit - 1, 0.0, 0.0, fallback=True)


class CartLock:
    """The checkout lock of one cart, with the time spent waiting for it."""

    def __init__(self, valkey: Valkey, *, timeout: float, wait: float) -> None:
        self._valkey = valkey
        self.timeout, self.wait = timeout, wait

    @asynccontextmanager
    async def hold(self, cart: str) -> AsyncIterator[tuple[int, float]]:
        """Hold ``cart``'s lock; yield ``(fencing token, seconds waited)``.

        Raises:
            LockNotAcquired: another checkout held it for longer than ``wait``.
        """
        lock = aio.Lock(
            self._valkey.client,
            cart,
            timeout=self.timeout,
            blocking_timeout=self.wait,
            prefix="shop.lock",
        )
        started = time.monotonic()
        if not await self._valkey.call(lock.acquire, budget=False):
            msg = f"{cart} is locked by another checkout"
            raise aio.LockNotAcquired(msg)
        try:
            yield lock.fencing_token, time.monotonic() - started
        finally:
            await self._valkey.call(lock.release)


class Views:
    """View counts: coalesced in memory, queued in a stream, added to the database by a worker.

    ``record`` only counts in this process (no round trip on the request's path);
    every ``interval`` seconds a task queues one write per product viewed
    (``{"delta": n}``) with :class:`valkey_redis.aio.WriteBehind`, whose worker
    task applies them (the SQLite batch on a thread). If Valkey
    cannot take them, the counts stay here and go with the next push; a process
    that dies loses at most ``interval`` seconds of views.
    """

    def __init__(
        self, valkey: Valkey, apply: Callable[[list[Write]], None], *, interval: float = 0.5
    ) -> None:
        self._valkey = valkey

        async def apply_off_loop(writes: list[Write]) -> None:
            await asyncio.to_thread(apply, writes)

        self._queue = aio.WriteBehind(
            valkey.client, name="shop.views", apply_batch=apply_off_loop, poll_interval=0.2
        )
        self.interval = interval
        self._counts: Counter[int] = Counter()
        self._pusher: asyncio.Task[None] | None = None
        self._started = False

    def record(self, pid: int) -> None:
        """Count one view of product ``pid`` (in memory; queued at the next push)."""
        self._counts[pid] += 1

    async def push(self) -> int:
        """Queue the views counted so far, one write per product; how many writes."""
        counts, self._counts = self._counts, Counter()
        sent: list[int] = []
        try:
            for pid, n in counts.items():
                await self._valkey.call(lambda: self._queue.submit(f"views:{pid}", {"delta": n}))  # noqa: B023 - awaited at once
                sent.append(pid)
        except (redis.RedisError, WriteBehindFullError):
            for pid in sent:
                del counts[pid]
            self._counts.update(counts)  # keep the rest for the next push
            raise
        return len(counts)

    async def _push_forever(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            with (
                Valkey.request_scope(),
                contextlib.suppress(redis.RedisError, WriteBehindFullError),
            ):
                await self.push()

    @property
    def unsent(self) -> int:
        """Views counted here and not yet queued."""
        return sum(self._counts.values())

    async def backlog(self) -> int:
        """Views queued in the stream and not yet in the database."""
        return await self._valkey.call(self._queue.backlog)

    async def flush(self) -> int:
        """Push, then apply everything queued now (tests, shutdown)."""
        await self.push()
        return await self._valkey.call(self._queue.flush, budget=False)

    def start(self) -> None:
        """Start the worker task and the pushing task (inside the event loop)."""
        self._queue.start()
        self._pusher = asyncio.get_running_loop().create_task(self._push_forever())
        self._started = True

    async def stop(self) -> None:
        """Stop pushing, push what is left, stop the worker after applying what it can."""
        if not self._started:
            return
        self._started = False
        if self._pusher is not None:
            self._pusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pusher
        # Valkey unreachable at shutdown: what was queued stays queued for the next start.
        with Valkey.request_scope(), contextlib.suppress(redis.RedisError, WriteBehindFullError):
            await self.push()
        with contextlib.suppress(redis.RedisError):
            await self._queue.stop(flush=True, timeout=5)
