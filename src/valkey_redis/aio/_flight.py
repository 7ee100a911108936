"""Single-flight for tasks: concurrent misses of one key in this event loop share one load.

Use this behind ``aio.Cache.get_or_set`` (the runner hands it the core's
:class:`~valkey_redis.core.flow.Merge` effects): the first task runs the load, the
others await its outcome -- 1,000 tasks on a cold key make one loader call.

Not for: threads (:class:`valkey_redis.cache.stampede.SingleFlight`) or other
processes (the fill lock in Valkey does that).

How it fails: a waiter gives up after its timeout with
:class:`~valkey_redis.cache.stampede.WaitTimeoutError`; a failing load gives every
waiter the same exception. A *cancelled* leader is not a failure of the load: its
waiters wake at once and start over, one of them leading, so nobody waits for a
lock TTL or inherits a ``CancelledError`` that was not theirs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar, cast

from valkey_redis.cache.stampede import WaitTimeoutError

__all__ = ["TaskFlight"]

T = TypeVar("T")


class _Call:
    __slots__ = ("cancelled", "done", "error", "value")

    def __init__(self) -> None:
        self.done: asyncio.Event | None = None  # made by the first waiter (a hit has none)
        self.value: Any = None
        self.error: BaseException | None = None
        self.cancelled = False


class TaskFlight(Generic[T]):
    """Merge concurrent calls for the same key in one event loop onto a single execution."""

    def __init__(self) -> None:
        self._calls: dict[str, _Call] = {}
        self._waiting: dict[str, int] = {}

    def busy(self, key: str) -> bool:
        """Return True while a call for ``key`` is in flight."""
        return key in self._calls

    def waiters(self, key: str) -> int:
        """Return how many tasks are waiting on the in-flight call for ``key``."""
        return self._waiting.get(key, 0)

    async def run(self, key: str, fn: Callable[[], Awaitable[T]], *, timeout: float) -> T:
        """Run ``fn`` once for all concurrent callers of ``key`` and return its result.

        Raises:
            WaitTimeoutError: a merged caller waited longer than ``timeout``.
            BaseException: whatever ``fn`` raised, in every merged caller.
        """
        while True:
            call = self._calls.get(key)
            if call is None:
                break
            if call.done is None:
                call.done = asyncio.Event()
            self._waiting[key] = self._waiting.get(key, 0) + 1
            try:
                async with asyncio.timeout(timeout):
                    await call.done.wait()
            except TimeoutError:
                msg = f"gave up after {timeout}s waiting for the in-flight load of {key!r}"
                raise WaitTimeoutError(msg) from None
            finally:
                left = self._waiting.pop(key) - 1
                if left:
                    self._waiting[key] = left
            if call.cancelled:
                continue  # the leader was cancelled: start over, one of us leads
            if call.error is not None:
                raise call.error
            return cast(T, call.value)
        # Nobody runs it: we lead (inline, not a coroutine of its own: this is every hit).
        call = self._calls[key] = _Call()
        try:
            call.value = await fn()
        except asyncio.CancelledError:
            call.cancelled = True
            raise
        except BaseException as exc:
            call.error = exc
            raise
        finally:
            del self._calls[key]
            if call.done is not None:
                call.done.set()
        return cast(T, call.value)
