"""Write-behind for asyncio: accept writes fast into a Valkey Stream, apply them in a task.

Use this in async services: ``queue = aio.WriteBehind(client, name="views",
apply_batch=save)`` (``save`` may be async), ``await queue.submit(key, value)`` in
the request, and ``queue.start()`` once for the worker task. The stream, consumer
group and submit script are those of :class:`valkey_redis.WriteBehind` (both run
:mod:`valkey_redis.core.write_behind`), so sync and async producers and workers
share one queue.

Not for: writes that must be durable before you answer; see
:mod:`valkey_redis.write_behind` for the guarantees (at-least-once: make
``apply_batch`` idempotent) and the data-loss window.

How it fails: as :class:`valkey_redis.WriteBehind`. A failing batch stays pending
and is retried with backoff; ``await queue.stop()`` ends the worker after its
current read (at most ``poll_interval``), then flushes. Cancelling the worker
task mid-batch leaves the batch pending: it is applied again later, never lost.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from redis.exceptions import ResponseError

from valkey_redis.aio._run import run
from valkey_redis.core.write_behind import (
    Write,
    WriteBehindCore,
    WriteBehindFullError,
    idle_consumer,
)

__all__ = ["Write", "WriteBehind", "WriteBehindFullError"]


class WriteBehind(WriteBehindCore):
    """:class:`valkey_redis.WriteBehind` for asyncio; same arguments, same stream.

    ``apply_batch`` may be a coroutine function; ``cache`` may be an
    :class:`valkey_redis.aio.Cache` (its ``set``/``delete`` are awaited).
    """

    _LOCK = asyncio.Lock  # one batch at a time per object (flush vs the worker task)
    _stop: asyncio.Event | None = None
    _task: asyncio.Task[None] | None = None

    async def submit(self, key: str, value: Any) -> str:
        """Queue ``value`` for ``key``; return the stream entry id (see the sync face)."""
        return await run(self.client, self._submit_flow(key, value))

    async def backlog(self) -> int:
        """Writes accepted but not yet applied."""
        return await run(self.client, self._backlog_flow())

    async def pending(self) -> int:
        """Writes delivered to some worker and not yet acknowledged."""
        return await run(self.client, self._pending_flow())

    async def process_batch(self, *, block: float | None = None) -> int:
        """Apply one batch (this worker's pending writes first); return how many."""
        return await run(self.client, self._process_batch_flow(block))

    async def flush(self) -> int:
        """Apply every write this worker can get; return how many."""
        return await run(self.client, self._flush_flow())

    async def reclaim(self, min_idle: float | None = None) -> int:
        """Take over writes pending longer than ``min_idle`` s at any worker."""
        return await run(self.client, self._reclaim_flow(min_idle))

    async def run(self, stop: asyncio.Event) -> None:
        """Apply writes until ``stop`` is set; reclaim idle ones every ``claim_idle`` s."""

        async def pause(seconds: float) -> None:  # a backoff that ends when stop is set
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await stop.wait()

        await run(self.client, self._serve_flow(stop.is_set), pause=pause)

    def start(self) -> asyncio.Task[None]:
        """Run :meth:`run` in a task of the running loop; ``await stop()`` ends it."""
        if self._task is not None and not self._task.done():
            return self._task
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self.run(self._stop))
        return self._task

    async def stop(self, *, flush: bool = True, timeout: float | None = 10.0) -> None:
        """Stop the worker task (cancelled after ``timeout``), apply what is left, leave the group.

        As the sync face: the consumer is deleted from the group once it has nothing
        pending, so start/stop cycles leave no dead consumers behind.
        """
        if self._stop is not None:
            self._stop.set()
        task, self._task = self._task, None
        if task is not None:
            # After the timeout wait_for cancels it: its batch stays pending, for flush.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(task, timeout)
        if flush:
            await self.flush()
        try:
            consumers = await self.client.xinfo_consumers(self.stream, self.group)
        except ResponseError:  # no stream or no group: nothing to leave
            return
        if idle_consumer(consumers, self.consumer):  # else deleting would strand its entries
            await self.client.xgroup_delconsumer(self.stream, self.group, self.consumer)
