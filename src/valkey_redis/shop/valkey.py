"""The one place the shop meets Valkey: the :mod:`valkey_redis.aio` helpers it uses.

Use this from the shop's helpers (:mod:`valkey_redis.shop.helpers`) only: every
Valkey call of the app goes through :meth:`Valkey.call`, so the budget, the
circuit breaker and the one-failure-per-request rule are decided once. Cache,
sessions, limiters and the lock are ``valkey_redis.aio``; view counts use the
sync write-behind on a thread (:meth:`Valkey.blocking`) until an async one exists.

Not for: a general async layer; :mod:`valkey_redis.aio` is that.

How it fails: a plain call waits at most ``CALL_BUDGET`` (0.5 s); a request
whose Valkey call failed sends no more (:class:`SkippedError`), so it waits for
Valkey one budget at most. Failures feed a :class:`~valkey_redis.breaker.
CircuitBreaker` (the library's, attached through its documented hook): once
open, calls fail at once with ``CircuitOpenError`` and one probe per cool-down
checks whether Valkey is back. Cache reads and rate-limit decisions fall back (a
miss; the request allowed); sessions, locks and invalidations raise
``redis.exceptions.ConnectionError`` for the route to answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import redis

from valkey_redis import aio, connect
from valkey_redis.breaker import BreakerSnapshot, CircuitBreaker
from valkey_redis.client import redacted

__all__ = ["CALL_BUDGET", "KeyInfo", "LockNotAcquired", "SkippedError", "Valkey"]

T = TypeVar("T")
LockNotAcquired = aio.LockNotAcquired
_OUTAGE = (redis.ConnectionError, redis.TimeoutError)

#: Each plain call waits at most this long on an unresponsive server, retries included.
CALL_BUDGET = 0.5
#: Set once a Valkey call of the current request failed: later calls of the same
#: request are not sent, so a request waits at most one budget for Valkey.
_FAILED: contextvars.ContextVar[bool] = contextvars.ContextVar("shop_valkey_failed", default=False)
#: Seconds the current request has spent waiting for Valkey (Server-Timing: valkey).
_WAITED: contextvars.ContextVar[list[float]] = contextvars.ContextVar("shop_valkey_waited")


class SkippedError(redis.ConnectionError):
    """Not sent: Valkey already failed once during this request."""


@dataclass(frozen=True)
class KeyInfo:
    """One key of the keyspace, for the home page: its type and seconds to live."""

    key: str
    type: str
    ttl: float | None


class Valkey:
    """An asyncio client, its circuit breaker, and a sync client for the view queue.

    Args:
        client: a ``redis.asyncio.Redis`` (``decode_responses=True``).
        sync_client: a sync client of the same server (the view-count queue).
        description: one line naming the server, for logs and the home page.
        breaker: the breaker guarding ``client``; None for none (fakeredis).
    """

    def __init__(
        self,
        client: Any,
        sync_client: redis.Redis,
        description: str,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self.client = client
        self.sync_client = sync_client
        self.description = description
        self.breaker = breaker
        self._probing = False
        self._threads = ThreadPoolExecutor(max_workers=8, thread_name_prefix="shop-views")

    @classmethod
    def connect(cls, url: str, description: str) -> Valkey:
        """Clients of ``url``: asyncio (no retries: one budget per call) and sync."""
        client = aio.connect(url, retries=0)
        sync = connect(url, call_timeout=CALL_BUDGET)
        return cls(client, sync, description, CircuitBreaker(redacted(url)))

    @classmethod
    def fake(cls) -> Valkey:
        """Clients of a brand-new in-memory fakeredis server (tests)."""
        import fakeredis  # noqa: PLC0415 - a test dependency, not the app's

        server = fakeredis.FakeServer()
        client = fakeredis.FakeAsyncRedis(server=server, decode_responses=True)
        sync = fakeredis.FakeRedis(server=server, decode_responses=True)
        return cls(client, sync, "fakeredis")

    @staticmethod
    @contextlib.contextmanager
    def request_scope() -> Iterator[None]:
        """Start a request with a clean slate (no failure seen yet), restored after it."""
        token, waited = _FAILED.set(False), _WAITED.set([0.0])
        try:
            yield
        finally:
            _FAILED.reset(token)
            _WAITED.reset(waited)

    @staticmethod
    def add_wait(seconds: float) -> None:
        """Count ``seconds`` of waiting for Valkey in a call made with ``budget=False``."""
        _WAITED.get([0.0])[0] += max(0.0, seconds)

    @staticmethod
    def waited() -> float:
        """Seconds the current request has spent waiting for Valkey so far."""
        return _WAITED.get([0.0])[0]

    def _allow(self) -> bool:
        """Ask the breaker; in half-open let one task of this loop probe at a time."""
        breaker = self.breaker
        if breaker is None or breaker.state == "closed":
            return breaker is None or breaker.allow()
        if self._probing or not breaker.allow():
            return False
        self._probing = True
        return True

    def failed(self, error: BaseException | None = None) -> None:
        """Record a failure (a helper fell back): for the breaker and for this request."""
        _FAILED.set(True)
        if self.breaker is not None:
            self.breaker.record_failure(error)

    async def call(self, make: Callable[[], Awaitable[T]], *, budget: bool = True) -> T:
        """Await ``make()`` under the breaker and, unless ``budget=False``, the call budget.

        ``budget=False`` is for calls that may wait on purpose (a lock) or run a
        loader (a cache fill): their Valkey commands are bounded by the socket
        timeout instead, and only their failures are reported to the breaker.

        Raises:
            SkippedError: an earlier call of this request already failed.
            CircuitOpenError: the breaker is open (nothing was sent).
            redis.ConnectionError, redis.TimeoutError: this call failed.
        """
        if _FAILED.get():
            msg = "Valkey failed earlier in this request: not asked again"
            raise SkippedError(msg)
        breaker = self.breaker
        if breaker is not None and not self._allow():
            _FAILED.set(True)
            raise breaker.open_error()
        started = breaker.clock() if breaker is not None else 0.0
        began = time.monotonic()
        try:
            if budget:
                async with asyncio.timeout(CALL_BUDGET):
                    result = await make()
            else:
                result = await make()
        except TimeoutError as exc:
            self.failed(exc)
            msg = f"no answer from Valkey within {CALL_BUDGET} s"
            raise redis.TimeoutError(msg) from exc
        except _OUTAGE as exc:
            self.failed(exc)
            raise
        finally:
            self._probing = False
            if budget:  # a lock wait or a cache fill's loader is not Valkey being slow
                _WAITED.get([0.0])[0] += time.monotonic() - began
        if breaker is not None:
            breaker.record_success(started if budget else breaker.clock())
        return result

    async def blocking(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking (sync-client) call on a thread; skipped after a failure."""
        if _FAILED.get():
            msg = "Valkey failed earlier in this request: not asked again"
            raise SkippedError(msg)
        loop = asyncio.get_running_loop()
        try:
            call = functools.partial(func, *args, **kwargs)
            return await loop.run_in_executor(self._threads, call)
        except _OUTAGE:
            _FAILED.set(True)
            raise

    async def ping(self) -> bool:
        """True when the server answers within the budget (and the breaker lets us ask)."""
        try:
            return bool(await self.call(self.client.ping))
        except redis.RedisError:
            return False

    def breaker_state(self) -> str | None:
        """The breaker's state; None where there is none (fakeredis)."""
        return None if self.breaker is None else self.breaker.state

    def breaker_snapshot(self) -> BreakerSnapshot | None:
        """The breaker's state and counters; None where there is none."""
        return None if self.breaker is None else self.breaker.snapshot()

    async def keyspace(self, limit: int = 100) -> list[KeyInfo]:
        """Up to ``limit`` keys with type and TTL, found with SCAN (never KEYS)."""

        async def scan() -> list[KeyInfo]:
            names: list[str] = []
            async for name in self.client.scan_iter(count=200):
                names.append(str(name))
                if len(names) >= limit:
                    break
            pipe = self.client.pipeline(transaction=False)
            for name in names:
                pipe.type(name)
                pipe.pttl(name)
            replies = await pipe.execute()
            found = [
                KeyInfo(name, str(kind), None if pttl < 0 else pttl / 1000)
                for name, kind, pttl in zip(names, replies[::2], replies[1::2], strict=True)
            ]
            return sorted(found, key=lambda info: info.key)

        return await self.call(scan)

    async def aclose(self) -> None:
        """Close both clients and stop the threads."""
        self._threads.shutdown(wait=True)
        self.sync_client.close()
        await self.client.aclose()
