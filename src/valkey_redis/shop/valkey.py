"""The one place the shop meets Valkey: async faces of the helpers it uses.

Use this from the shop's routes only; every Valkey call of the app goes through
here, so switching a helper (today the sync one run on a thread pool, tomorrow
its :mod:`valkey_redis.aio` twin) changes this module and nothing else.

Not for: a general async layer; :mod:`valkey_redis.aio` is that.

How it fails: each call is bounded by the client's budget (1 s, retries
included) and, once the client's circuit breaker has opened, refused at once
(:class:`~valkey_redis.breaker.CircuitOpenError`, a ``ConnectionError``), so a hung
Valkey costs the first requests up to a budget and later ones nothing. Cache reads and
rate-limit decisions fall back (a miss; the request allowed); sessions, locks,
invalidations and the view queue raise ``redis.exceptions.ConnectionError`` or
``TimeoutError`` for the route to answer.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import redis

from valkey_redis import GCRA, Cache, Lock, SessionStore, WriteBehind, connect
from valkey_redis.breaker import BreakerSnapshot
from valkey_redis.client import breaker_of
from valkey_redis.lock import LockNotAcquired
from valkey_redis.ratelimit import RateLimitResult
from valkey_redis.write_behind import Write

__all__ = [
    "CartLock",
    "KeyInfo",
    "Limiter",
    "LockNotAcquired",
    "ProductCache",
    "Sessions",
    "SkippedError",
    "Valkey",
    "Views",
]

T = TypeVar("T")
log = logging.getLogger(__name__)

#: Each call waits at most this long on an unresponsive server, retries included.
CALL_BUDGET = 0.5
#: Set once a Valkey call of the current request failed: later calls of the same
#: request are not sent, so a request waits at most one budget for Valkey.
_FAILED: contextvars.ContextVar[bool] = contextvars.ContextVar("shop_valkey_failed", default=False)


class SkippedError(redis.ConnectionError):
    """Not sent: Valkey already failed once during this request."""


_MISSING = object()


@dataclass(frozen=True)
class KeyInfo:
    """One key of the keyspace, for the home page: its type and seconds to live."""

    key: str
    type: str
    ttl: float | None


class Valkey:
    """A client and the threads its blocking calls run on.

    Args:
        client: a sync redis-py client (``decode_responses=True``).
        description: one line naming the server, for logs and the home page.
    """

    def __init__(self, client: redis.Redis, description: str) -> None:
        self.client = client
        self.description = description
        self._pool = ThreadPoolExecutor(max_workers=32, thread_name_prefix="shop-valkey")

    @classmethod
    def connect(cls, url: str, description: str) -> Valkey:
        """A client of ``url`` with the library's circuit breaker and a 0.5 s budget per call."""
        return cls(connect(url, call_timeout=CALL_BUDGET), description)

    @classmethod
    def fake(cls) -> Valkey:
        """A brand-new in-memory fakeredis server (tests)."""
        import fakeredis  # noqa: PLC0415 - a test dependency, not the app's

        server = fakeredis.FakeServer()
        return cls(fakeredis.FakeRedis(server=server, decode_responses=True), "fakeredis")

    async def run(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking call on the pool and await its result.

        Raises:
            SkippedError: an earlier call of this request already failed.
            redis.ConnectionError, redis.TimeoutError: this call failed (remembered).
        """
        if _FAILED.get():
            msg = "Valkey failed earlier in this request: not asked again"
            raise SkippedError(msg)
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, functools.partial(func, *args, **kwargs))
        except (redis.ConnectionError, redis.TimeoutError):
            _FAILED.set(True)
            raise

    @staticmethod
    def failed_in_this_request() -> bool:
        """True once a Valkey call of the current request failed (or fell back)."""
        return _FAILED.get()

    @staticmethod
    def mark_failed() -> None:
        """Remember that Valkey failed in the current request (a helper fell back)."""
        _FAILED.set(True)

    async def ping(self) -> bool:
        """True when the server answers within the budget."""
        try:
            return bool(await self.run(self.client.ping))
        except redis.RedisError:
            return False

    def breaker_state(self) -> str | None:
        """The client's circuit-breaker state; None where the client has none (fakeredis)."""
        breaker = breaker_of(self.client)
        return None if breaker is None else breaker.state

    def breaker(self) -> BreakerSnapshot | None:
        """The breaker's state and counters; None where the client has none."""
        breaker = breaker_of(self.client)
        return None if breaker is None else breaker.snapshot()

    async def keyspace(self, limit: int = 100) -> list[KeyInfo]:
        """Up to ``limit`` keys with type and TTL, found with SCAN (never KEYS)."""

        def scan() -> list[KeyInfo]:
            names: list[str] = []
            for name in self.client.scan_iter(count=200):
                names.append(str(name))
                if len(names) >= limit:
                    break
            pipe = self.client.pipeline(transaction=False)
            for name in names:
                pipe.type(name)
                pipe.pttl(name)
            replies = pipe.execute()
            found = [
                KeyInfo(name, str(kind), None if pttl < 0 else pttl / 1000)
                for name, kind, pttl in zip(names, replies[::2], replies[1::2], strict=True)
            ]
            return sorted(found, key=lambda info: info.key)

        return await self.run(scan)

    def close(self) -> None:
        """Stop the threads and close the client."""
        self._pool.shutdown(wait=True)
        self.client.close()


class ProductCache:
    """Products cached by id (negative entries for unknown ids), tagged for invalidation."""

    def __init__(
        self, valkey: Valkey, *, ttl: float, negative_ttl: float, stampede_protection: bool
    ) -> None:
        self._valkey = valkey
        # A load takes ~80 ms: a waiter gives another request's load 0.5 s, then loads
        # itself; a fill lock left by a request that lost Valkey mid-fill lives 2 s.
        self._cache = Cache(
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

    async def get(self, pid: int, load: Callable[[], dict[str, Any] | None]) -> tuple[Any, bool]:
        """``(product or None, hit)``; ``hit`` is False when this call ran ``load``."""
        loaded = False

        def loader() -> dict[str, Any] | None:
            nonlocal loaded
            loaded = True
            return load()

        def lookup() -> Any:
            if self._protected:
                return self._cache.get_or_set(pid, loader, tags=[self.tag(pid)])
            value = self._cache.get(pid, _MISSING)  # get, then set: no single flight
            if value is _MISSING:
                value = loader()
                self._cache.set(pid, value, tags=[self.tag(pid)])
            return value

        errors = self._cache.stats.errors
        try:
            value = await self._valkey.run(lookup)
        except redis.RedisError:  # skipped (Valkey failed earlier in this request)
            return await asyncio.to_thread(load), False
        if loaded and self._cache.stats.errors > errors:
            self._valkey.mark_failed()  # the cache fell back to the loader
        return value, not loaded

    async def invalidate(self, pid: int) -> int:
        """Delete every entry tagged with product ``pid``; errors propagate."""
        return await self._valkey.run(self._cache.invalidate_tags, self.tag(pid))

    @property
    def errors(self) -> int:
        """Cache server errors absorbed by a fallback so far."""
        return self._cache.stats.errors


class Sessions:
    """Server-side sessions (:class:`valkey_redis.SessionStore`), awaited."""

    def __init__(self, valkey: Valkey, *, ttl: float) -> None:
        self._valkey = valkey
        self._store = SessionStore(valkey.client, ttl=ttl, prefix="shop.session")

    async def create(self, user_id: int, **data: Any) -> str:
        """A new session id for ``user_id``."""
        return await self._valkey.run(self._store.create, user_id=user_id, data=data)

    async def get(self, sid: str) -> dict[str, Any] | None:
        """The session's data, or None (unknown, expired, forged)."""
        return await self._valkey.run(self._store.get, sid)

    async def rotate(self, sid: str) -> str | None:
        """A new id for the same session; None when the old one is not live."""
        return await self._valkey.run(self._store.rotate, sid)

    async def update(self, sid: str, **fields: Any) -> bool:
        """Change fields of a live session."""
        return await self._valkey.run(self._store.update, sid, **fields)

    async def destroy(self, sid: str) -> bool:
        """End one session."""
        return await self._valkey.run(self._store.destroy, sid)

    async def destroy_all(self, user_id: int) -> int:
        """End every session of ``user_id``; how many there were."""
        return await self._valkey.run(self._store.destroy_all, user_id=user_id)


class Limiter:
    """A GCRA limiter that allows the request when Valkey cannot answer (fail open)."""

    def __init__(self, valkey: Valkey, *, name: str, limit: int, window: float) -> None:
        self._valkey = valkey
        self.name, self.limit, self.window = name, limit, window
        self._gcra = GCRA(
            valkey.client, limit=limit, window=window, prefix=f"shop.rl.{name}", on_error="allow"
        )

    async def hit(self, key: str) -> RateLimitResult:
        """Take one request for ``key``; allowed (``fallback``) when Valkey cannot answer."""
        try:
            result = await self._valkey.run(self._gcra.hit, key)
        except redis.RedisError:  # skipped: Valkey failed earlier in this request
            return RateLimitResult(True, self.limit, self.limit - 1, 0.0, 0.0, fallback=True)
        if result.fallback:
            self._valkey.mark_failed()
        return result


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
        lock = Lock(
            self._valkey.client,
            cart,
            timeout=self.timeout,
            blocking_timeout=self.wait,
            prefix="shop.lock",
        )
        started = time.monotonic()
        if not await self._valkey.run(lock.acquire):
            msg = f"{cart} is locked by another checkout"
            raise LockNotAcquired(msg)
        try:
            yield lock.fencing_token, time.monotonic() - started
        finally:
            await self._valkey.run(lock.release)


class Views:
    """View counts queued in a stream and added to the database by a worker thread."""

    def __init__(self, valkey: Valkey, apply: Callable[[list[Write]], None]) -> None:
        self._valkey = valkey
        self._queue = WriteBehind(
            valkey.client, name="shop.views", apply_batch=apply, poll_interval=0.2
        )
        self._started = False

    async def submit(self, pid: int) -> None:
        """Queue one view of product ``pid``."""
        await self._valkey.run(self._queue.submit, f"views:{pid}", {"delta": 1})

    async def backlog(self) -> int:
        """Views accepted and not yet in the database."""
        return await self._valkey.run(self._queue.backlog)

    async def flush(self) -> int:
        """Apply everything queued now (tests, shutdown)."""
        return await self._valkey.run(self._queue.flush)

    def start(self) -> None:
        """Start the worker thread."""
        self._queue.start()
        self._started = True

    def stop(self) -> None:
        """Stop the worker after applying what it can."""
        if self._started:
            self._started = False
            try:
                self._queue.stop(flush=True, timeout=5)
            except redis.RedisError:
                log.warning("views not applied at shutdown: Valkey unreachable (they stay queued)")
