"""Write-behind for asyncio: accept writes fast into a Valkey Stream, apply them in a task.

Use this in async services: ``queue = aio.WriteBehind(client, name="views",
apply_batch=save)`` (``save`` may be async), ``await queue.submit(key, value)`` in
the request, ``queue.start()`` once for the worker task and ``await queue.stop()``
at shutdown. The stream, consumer group and submit script are those of
:class:`valkey_redis.WriteBehind` (both run :mod:`valkey_redis.core.write_behind`),
so sync and async producers and workers share one queue.

Not for: writes that must be durable before you answer; see
:mod:`valkey_redis.write_behind` for the guarantees (at-least-once: make
``apply_batch`` idempotent) and the data-loss window.

How it fails: as :class:`valkey_redis.WriteBehind`. A failing batch stays pending
and is retried with backoff; ``await queue.stop()`` ends the worker after its
current read (at most ``poll_interval``), then flushes, all within its
``timeout`` even on a hung server. Cancelling the worker task mid-batch leaves
the batch pending: it is applied again later, never lost. A queue dropped without
``stop()`` ends its worker task (the task holds it weakly).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from valkey_redis.aio._run import run
from valkey_redis.core.write_behind import Write, WriteBehindCore, WriteBehindFullError, serve

__all__ = ["Write", "WriteBehind", "WriteBehindFullError"]

log = logging.getLogger("valkey_redis.write_behind")

# Worker tasks, kept alive here (the loop holds tasks only weakly) until they end.
_WORKERS: set[asyncio.Task[None]] = set()


class WriteBehind(WriteBehindCore):
    """:class:`valkey_redis.WriteBehind` for asyncio; same arguments, same stream.

    ``apply_batch`` may be a coroutine function; ``cache`` may be an
    :class:`valkey_redis.aio.Cache` (its ``set``/``delete`` are awaited).
    """

    _ASYNC = True  # the face check refuses sync clients
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
        await run(self.client, self._serve_flow(stop.is_set), pause=_until(stop))

    def start(self) -> asyncio.Task[None]:
        """Run the worker in a task of the running loop; ``await stop()`` ends it.

        The task holds the queue only through a weak reference (as the sync face's
        thread): a WriteBehind dropped without :meth:`stop` is collected, and its
        task ends after its current turn (about one ``poll_interval``).
        """
        if self._task is not None and not self._task.done():
            return self._task
        self._stop = asyncio.Event()
        task = asyncio.create_task(_run_weakly(self.client, weakref.ref(self), self._stop))
        _WORKERS.add(task)  # the loop holds tasks only weakly
        task.add_done_callback(_WORKERS.discard)
        self._task = task
        return task

    async def stop(self, *, flush: bool = True, timeout: float | None = 10.0) -> None:
        """Stop the worker task, apply what is left, leave the group; never hangs.

        Bounded: the whole call returns within ``timeout`` seconds (None: no bound)
        whatever the server does. A worker still busy then is cancelled (its batch
        stays pending) and the flush is skipped; a flush cut off, or one that
        cannot reach Valkey, is a warning. Either way the writes stay in the stream
        for the next worker. As the sync face, the consumer is deleted from the
        group once it has nothing pending, so start/stop cycles leave no dead
        consumers behind.
        """
        if self._stop is not None:
            self._stop.set()
        task, self._task = self._task, None
        try:
            async with asyncio.timeout(timeout):
                if task is not None:
                    await task  # cancelled with us on the timeout
                await run(self.client, self._finish_flow(flush))
        except TimeoutError:
            log.warning("write-behind: stop() ran out of its %ss; writes stay queued", timeout)


def _until(stop: asyncio.Event) -> Callable[[float], Awaitable[None]]:
    """The worker's pause: ``asyncio.sleep`` that ends early when ``stop`` is set."""

    async def pause(seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await stop.wait()

    return pause


async def _run_weakly(client: Any, ref: weakref.ref[WriteBehind], stop: asyncio.Event) -> None:
    """The task of :meth:`WriteBehind.start`: run turns while the queue is alive."""
    await run(client, serve(ref, stop.is_set), pause=_until(stop))
