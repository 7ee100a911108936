"""The one place the shop meets Valkey: the :mod:`valkey_redis.aio` helpers it uses.

Use this from the shop's helpers (:mod:`valkey_redis.shop.helpers`) only: every
Valkey call of the app goes through :meth:`Valkey.call`, so the budget and the
one-failure-per-request rule are decided once. The client comes from
:func:`valkey_redis.aio.connect`, whose circuit breaker sees every command.

Not for: a general async layer; :mod:`valkey_redis.aio` is that.

How it fails: a plain call waits at most ``CALL_BUDGET`` (0.5 s); a request
whose Valkey call failed sends no more (:class:`SkippedError`), so it waits for
Valkey one budget at most. The client's breaker opens after a few failures:
then calls fail at once with ``CircuitOpenError`` and a probe per cool-down
checks whether Valkey is back. Cache reads and rate-limit decisions fall back (a
miss; the request allowed); sessions, locks and invalidations raise
``redis.exceptions.ConnectionError`` for the route to answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import redis

from valkey_redis import aio
from valkey_redis.breaker import BreakerSnapshot, CircuitBreaker
from valkey_redis.client import breaker_of

__all__ = ["CALL_BUDGET", "KeyInfo", "LockNotAcquired", "SkippedError", "Valkey"]

T = TypeVar("T")
LockNotAcquired = aio.LockNotAcquired
_OUTAGE = (redis.ConnectionError, redis.TimeoutError)

#: Each plain call waits at most this long on an unresponsive server, retries included.
CALL_BUDGET = 0.5
#: What the client itself allows one call (its own budget), leaving CALL_BUDGET slack.
CLIENT_BUDGET = 0.4
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
    """An asyncio client (with the library's circuit breaker) and the shop's call rules.

    Args:
        client: a ``redis.asyncio.Redis`` (``decode_responses=True``), e.g. from
            :func:`valkey_redis.aio.connect`, which puts a circuit breaker on it.
        description: one line naming the server, for logs and the home page.
    """

    def __init__(self, client: Any, description: str) -> None:
        self.client = client
        self.description = description
        self.breaker: CircuitBreaker | None = breaker_of(client)

    @classmethod
    def connect(cls, url: str, description: str) -> Valkey:
        """A client of ``url``: the breaker, no retries, and a client budget under ours.

        The client gives up after ``CLIENT_BUDGET`` (connect and command together);
        :meth:`call` cuts at ``CALL_BUDGET`` whatever happens, so the difference is
        slack for a busy event loop.
        """
        return cls(aio.connect(url, retries=0, call_timeout=CLIENT_BUDGET), description)

    @classmethod
    def fake(cls) -> Valkey:
        """A client of a brand-new in-memory fakeredis server (tests; no breaker)."""
        import fakeredis  # noqa: PLC0415 - a test dependency, not the app's

        server = fakeredis.FakeServer()
        return cls(fakeredis.FakeAsyncRedis(server=server, decode_responses=True), "fakeredis")

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

    @staticmethod
    def failed_in_this_request() -> bool:
        """True once a Valkey call of the current request failed (or a helper fell back)."""
        return _FAILED.get()

    @staticmethod
    def failed() -> None:
        """Remember that Valkey failed in this request (a helper fell back)."""
        _FAILED.set(True)

    async def call(self, make: Callable[[], Awaitable[T]], *, budget: bool = True) -> T:
        """Await ``make()``, unless this request already saw Valkey fail, within the budget.

        The client's breaker sees every command (it refuses at once while open);
        this adds the request's rule and, unless ``budget=False``, a bound on the
        whole call. ``budget=False`` is for calls that may wait on purpose (a lock)
        or run a loader (a cache fill): their commands are bounded one by one.

        Raises:
            SkippedError: an earlier call of this request already failed.
            CircuitOpenError: the breaker is open (nothing was sent).
            redis.ConnectionError, redis.TimeoutError: this call failed.
        """
        if _FAILED.get():
            msg = "Valkey failed earlier in this request: not asked again"
            raise SkippedError(msg)
        began = time.monotonic()
        try:
            if budget:
                async with asyncio.timeout(CALL_BUDGET):
                    return await make()
            return await make()
        except TimeoutError as exc:
            _FAILED.set(True)
            msg = f"no answer from Valkey within {CALL_BUDGET} s"
            raise redis.TimeoutError(msg) from exc
        except _OUTAGE:
            _FAILED.set(True)
            raise
        finally:
            if budget:  # a lock wait or a cache fill's loader is not Valkey being slow
                _WAITED.get([0.0])[0] += time.monotonic() - began

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
        """Close the client."""
        await self.client.aclose()
