"""A distributed lock with a lease, owner-only release, and fencing tokens.

Use this when several threads, processes or machines must not run the same
critical section at once: one invoice number issued, one job run, one cache
rebuild. ``with Lock(client, "invoice:7", timeout=10) as lock: ...``.

Not for: exactness under every failure. A lease (``timeout``) is required, so a
crashed holder cannot block everyone forever; the price is that a holder paused
longer than its lease (a GC pause, a slow disk, a swapped VM) wakes up believing
it still holds the lock while someone else does. Hand ``lock.fencing_token`` to
the resource you protect and let it reject tokens lower than the highest it has
seen: that, not the lock alone, keeps a stale holder from writing.

How it fails:
- The lease runs out mid-hold: ``release()`` and ``extend()`` return False and
  never touch the new holder's lock; the ``with`` block raises :class:`LockLost`
  on exit; with ``auto_renew=True`` the ``lost`` flag turns True as soon as a
  renewal is refused.
- Acquiring times out (``blocking_timeout``): ``acquire()`` returns False; the
  ``with`` block raises :class:`LockNotAcquired` naming the lock and the wait.
- The server is unreachable: ``redis.exceptions.ConnectionError`` /
  ``TimeoutError``; a lock never pretends to be held. When an acquire's reply is
  lost, we ask the server whether the lock is in fact ours before giving up; if
  even that fails, the error surfaces and any lock we did take expires with its lease.
  With :func:`~valkey_redis.connect`'s circuit breaker open, ``acquire`` raises
  ``CircuitOpenError`` at once; ``acquire(blocking_timeout=t)`` never waits on
  the network longer than ``t`` (plus 0.2 s for the last reply).

Keys: ``lock:{name}`` holds a random token per acquisition; ``lock:{name}:fence``
counts acquisitions. Both share the hash tag, so one script touches both on
Valkey Cluster. The counter outlives the lock (TTL ``max(1 day, 100 x timeout)``,
refreshed on every acquire and extend): a counter that never expired would keep
one small key per lock name forever. If an idle counter does expire, the next
acquire seeds it from the server clock in microseconds, so tokens still increase
(they are large numbers for that reason) unless the server clock jumps back or a
single name sees more than a million acquisitions per second on average.

This module is the sync face: the keys, scripts and decisions live in
:mod:`valkey_redis.core.lock`, shared with :class:`valkey_redis.aio.Lock`, so a
sync and an async holder of the same name exclude each other.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable
from types import TracebackType
from typing import Self

from valkey_redis._run import run
from valkey_redis.core.lock import LockCore, LockError, LockLost, LockNotAcquired

__all__ = ["Lock", "LockError", "LockLost", "LockNotAcquired"]


class Lock(LockCore):
    """A lease-based lock on Valkey; see the module docstring for its guarantees.

    Args:
        client: a redis-py client (``decode_responses=True``) or cluster client.
        name: what the lock protects, e.g. ``"invoice:7"`` (escaped into the key).
        timeout: the lease in seconds (required: no lock lives forever).
        blocking: wait for the lock (True) or give up at once (False).
        blocking_timeout: seconds to wait at most; None waits as long as it takes.
        sleep: first pause between attempts, in seconds; later pauses grow (up to
            8x) with random jitter, and never outlast the holder's lease.
        auto_renew: extend the lease every ``timeout / 3`` s from a background
            thread while held; a refused renewal sets :attr:`lost` and stops.
        prefix: key namespace.

    Raises:
        ValueError: for an empty name or a non-positive ``timeout``/``sleep``.
    """

    _renewer: threading.Thread | None = None
    _stop_renewing: threading.Event | None = None
    # Injected in tests to check the waiting logic without real waiting.
    _pause: Callable[[float], None] = staticmethod(time.sleep)

    def acquire(
        self, *, blocking: bool | None = None, blocking_timeout: float | None = None
    ) -> bool:
        """Take the lock; True on success, False when not available in time.

        Args:
            blocking: override the instance's ``blocking``.
            blocking_timeout: override the instance's ``blocking_timeout``.

        Raises:
            LockError: if this instance already holds the lock (release it first).
            ValueError: for a negative or NaN ``blocking_timeout``.
            redis.exceptions.ConnectionError: when the server cannot be reached.
        """
        flow = self._acquire_flow(blocking, blocking_timeout)
        with self._bounded(blocking, blocking_timeout):  # a hung server cannot stretch it
            acquired = run(self._client, flow, pause=self._pause)
        if acquired and self.auto_renew:
            self._start_renewing()
        return acquired

    def release(self) -> bool:
        """Delete the lock if it is still ours; False (and nothing deleted) otherwise.

        Any thread may release: the token belongs to this instance, not a thread.
        False means the lease had run out (or, rarely, that a retried request found
        the lock already deleted by its first attempt, whose reply was lost).
        """
        self._stop_renewer()
        return run(self._client, self._release_flow())

    def extend(self, seconds: float | None = None) -> bool:
        """Reset the remaining lease to ``seconds`` (default: ``timeout``) if still ours.

        The lease is replaced, not added to, so repeated calls cannot grow it
        without bound. Returns False (and sets :attr:`lost`) when the lock has
        expired or belongs to someone else; their lock is left untouched.
        """
        return run(self._client, self._extend_flow(seconds))

    def locked(self) -> bool:
        """True if anyone holds the lock right now (one EXISTS)."""
        return bool(self._client.exists(self.key))

    def owned(self) -> bool:
        """True if this instance holds the lock right now (one GET)."""
        return run(self._client, self._owned_flow())

    def _start_renewing(self) -> None:
        self._stop_renewing = threading.Event()
        self._renewer = threading.Thread(
            target=_renew_loop,
            args=(weakref.ref(self), self._stop_renewing, self._lease_ms / 3000),
            name=f"lock-renew:{self.name}",
            daemon=True,
        )
        self._renewer.start()

    def _stop_renewer(self) -> None:
        if self._stop_renewing is not None:
            self._stop_renewing.set()
        renewer, self._renewer = self._renewer, None
        if renewer is not None and renewer is not threading.current_thread():
            renewer.join()

    def __enter__(self) -> Self:
        start = self._clock()
        if not self.acquire():
            raise self._not_acquired(self._clock() - start)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._exit(self.release(), exc)


def _renew_loop(ref: weakref.ref[Lock], stop: threading.Event, interval: float) -> None:
    """Extend the lease every ``interval`` s until stopped, refused, or the Lock is gone.

    The thread holds only a weak reference: a Lock dropped without release() stops
    being renewed and expires with its lease instead of living as long as the process.
    A renewal that fails locally is retried sooner, while the lease lasts.
    """
    wait: float | None = interval
    while wait is not None and not stop.wait(wait):
        lock = ref()
        if lock is None:
            return
        wait = run(lock._client, lock._renew_flow())
        del lock
