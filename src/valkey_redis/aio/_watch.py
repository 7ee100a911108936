"""Read deadlines for the asyncio connections: one timer per event loop, not one per reply.

Use this from :mod:`valkey_redis.aio._guard`: it bounds every reply an
``aio.connect()`` client awaits. redis.asyncio bounds each read with its own
``asyncio.timeout()``, which schedules and cancels a timer for every command: on
a cache hit that is a fifth of the client's time. Here a read only notes its
deadline; one timer per event loop, set for the earliest deadline in flight,
fires for the reads still waiting when it comes.

Not for: reads with their own explicit timeout (pub/sub polling), which keep
redis.asyncio's; writes (bounded in :mod:`valkey_redis.aio._guard`).

How it fails: exactly as ``asyncio.timeout()`` would. An expired read's task is
cancelled; the read then ends, redis.asyncio drops the connection (its reply may
still come, and must never answer another command) and :meth:`ReadWatch.expired`
turns that cancellation into a timeout -- unless the task was also cancelled by
somebody else meanwhile, whose ``CancelledError`` then propagates.
"""

from __future__ import annotations

import asyncio
import math
import weakref
from typing import Any

__all__ = ["ReadWatch", "watch"]


class _Read:
    __slots__ = ("cancelling", "deadline", "fired", "task")

    def __init__(self, deadline: float, task: asyncio.Task[Any]) -> None:
        self.deadline = deadline
        self.task = task
        self.cancelling = task.cancelling()
        self.fired = False


class ReadWatch:
    """The reads in flight on one event loop and the one timer that bounds them."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._reads: dict[object, _Read] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf

    def start(self, reader: object, seconds: float) -> None:
        """``reader`` (a connection) awaits a reply for at most ``seconds`` from now."""
        task = asyncio.current_task(self._loop)
        if task is None:  # not inside a task: nothing could be cancelled
            return
        deadline = self._loop.time() + seconds
        self._reads[reader] = _Read(deadline, task)
        if deadline < self._timer_at:
            self._arm(deadline)

    def stop(self, reader: object) -> None:
        """The read of ``reader`` ended (a no-op after :meth:`expired` took it)."""
        self._reads.pop(reader, None)

    def expired(self, reader: object) -> bool:
        """Call on a ``CancelledError`` of ``reader``'s read: True if it is the deadline's.

        The deadline's cancellation is then withdrawn (``Task.uncancel``), as
        ``asyncio.timeout()`` withdraws its own; False leaves the error to propagate.
        """
        read = self._reads.pop(reader, None)
        if read is None or not read.fired:
            return False
        return read.task.uncancel() <= read.cancelling

    def _arm(self, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._timer_at = self._loop.call_at(when, self._fire), when

    def _fire(self) -> None:
        self._timer, self._timer_at = None, math.inf
        now, upcoming = self._loop.time(), math.inf
        for read in self._reads.values():
            if read.fired:
                continue
            if read.deadline <= now:
                read.fired = True
                read.task.cancel()
            else:
                upcoming = min(upcoming, read.deadline)
        if upcoming < math.inf:
            self._arm(upcoming)


_WATCHES: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, ReadWatch] = (
    weakref.WeakKeyDictionary()
)


def watch() -> ReadWatch:
    """The running event loop's :class:`ReadWatch`."""
    loop = asyncio.get_running_loop()
    found = _WATCHES.get(loop)
    if found is None:
        found = _WATCHES[loop] = ReadWatch(loop)
    return found
