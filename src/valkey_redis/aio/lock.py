"""A distributed lock for asyncio: :class:`valkey_redis.Lock`'s API with ``async with``.

Use this when tasks, processes or machines must not run the same critical section
at once: ``async with aio.Lock(client, "invoice:7", timeout=10) as lock: ...``,
then hand ``lock.fencing_token`` to the resource you protect. The keys, scripts
and tokens are those of :class:`valkey_redis.Lock` (both run the flows of
:mod:`valkey_redis.core.lock`), so a sync and an async holder of one name exclude
each other and their fencing tokens come from one counter.

Not for: exactness under every failure; the lease and fencing caveats of
:mod:`valkey_redis.lock` apply unchanged.

How it fails: as :class:`valkey_redis.Lock` (``LockNotAcquired``, ``LockLost``,
``False`` from ``release``/``extend`` once the lease ran out). Cancellation: a task
cancelled inside :meth:`Lock.acquire` -- while waiting, or while the acquire
script was in flight -- leaves no lock behind: if the script may have run, the
lock is released (compare-and-delete on our token) before ``CancelledError``
propagates; if even that cannot reach the server, the lock expires with its
lease. ``auto_renew=True`` renews from a task every ``timeout / 3`` s; a refused
renewal sets :attr:`lost` and stops.
"""

from __future__ import annotations

import asyncio
import weakref
from types import TracebackType
from typing import Self

from valkey_redis.aio._run import run
from valkey_redis.core.lock import LockCore, LockError, LockLost, LockNotAcquired

__all__ = ["Lock", "LockError", "LockLost", "LockNotAcquired"]

# Renewal tasks, kept alive here (the loop holds tasks only weakly) until they end.
_RENEWERS: set[asyncio.Task[None]] = set()


class Lock(LockCore):
    """:class:`valkey_redis.Lock` for asyncio; same arguments, same keys and tokens.

    Args:
        client: a ``redis.asyncio.Redis`` (``decode_responses=True``) or cluster client.
        name: what the lock protects, e.g. ``"invoice:7"``.
        **settings: ``timeout`` (required), ``blocking``, ``blocking_timeout``,
            ``sleep``, ``auto_renew``, ``prefix``, as for :class:`valkey_redis.Lock`.
    """

    _ASYNC = True  # the face check refuses sync clients
    _renewer: asyncio.Task[None] | None = None
    _pause = staticmethod(asyncio.sleep)  # injected in tests

    async def acquire(
        self, *, blocking: bool | None = None, blocking_timeout: float | None = None
    ) -> bool:
        """:meth:`valkey_redis.Lock.acquire`, awaited; cancellation leaves no lock behind."""
        flow = self._acquire_flow(blocking, blocking_timeout)
        with self._bounded(blocking, blocking_timeout):  # a hung server cannot stretch it
            acquired = await run(self._client, flow, pause=self._pause)
        if acquired and self.auto_renew:
            task = asyncio.create_task(_renew_loop(weakref.ref(self), self._lease_ms / 3000))
            _RENEWERS.add(task)
            task.add_done_callback(_RENEWERS.discard)
            self._renewer = task
        return acquired

    async def release(self) -> bool:
        """:meth:`valkey_redis.Lock.release`, awaited.

        A task cancelled while it waits here for the renewal task to end still
        gives the lock back, then raises its ``CancelledError``.
        """
        renewer, self._renewer = self._renewer, None
        cancelled: asyncio.CancelledError | None = None
        me = asyncio.current_task()
        if renewer is not None and renewer is not me:
            renewer.cancel()
            try:
                await renewer
            except asyncio.CancelledError as exc:  # the renewer's, or ours?
                if me is not None and me.cancelling():
                    cancelled = exc  # ours: release first, then raise it
        released = await run(self._client, self._release_flow())
        if cancelled is not None:
            raise cancelled
        return released

    async def extend(self, seconds: float | None = None) -> bool:
        """:meth:`valkey_redis.Lock.extend`, awaited."""
        return await run(self._client, self._extend_flow(seconds))

    async def locked(self) -> bool:
        """True if anyone holds the lock right now (one EXISTS)."""
        return bool(await self._client.exists(self.key))

    async def owned(self) -> bool:
        """True if this instance holds the lock right now (one GET)."""
        return await run(self._client, self._owned_flow())

    async def __aenter__(self) -> Self:
        start = self._clock()
        if not await self.acquire():
            raise self._not_acquired(self._clock() - start)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._exit(await self.release(), exc)


async def _renew_loop(ref: weakref.ref[Lock], interval: float) -> None:
    """Extend the lease every ``interval`` s until cancelled, refused, or the Lock is gone.

    A renewal that fails locally is retried sooner, while the lease lasts (see
    ``LockCore._renew_flow``). It also ends once the lock is no longer renewed by
    this task (``release()`` cleared it): a cancellation swallowed below us --
    ``asyncio.wait_for`` on Python 3.11 can lose one that arrives as its wait
    ends -- must not keep ``release()`` waiting for a renewer that goes on forever.
    """
    me = asyncio.current_task()
    wait: float | None = interval
    while wait is not None:
        await asyncio.sleep(wait)
        lock = ref()
        if lock is None or lock._renewer is not me:
            return
        wait = await run(lock._client, lock._renew_flow())
        if lock._renewer is not me:  # released while renewing
            return
        del lock
