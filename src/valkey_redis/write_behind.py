"""Write-behind: accept writes fast into a Valkey Stream, apply them to the database later.

Use this when writes are frequent, the database is slow, and readers can live
with the database catching up a little later (counters, last-seen times,
preferences, analytics). :meth:`WriteBehind.submit` appends the write to a
stream (and updates the cache, if you pass one) and returns at once; workers in
a consumer group read batches, apply each batch with one call of your
``apply_batch``, and acknowledge it only after that call returned.

Not for: writes that must be durable before you answer the user (payments,
orders). Use write-through (``Cache.write_through``) there.

How it fails, honestly:

- **At-least-once.** A worker that dies after ``apply_batch`` committed but
  before XACK leaves its entries pending; another worker takes them over
  (:meth:`reclaim`, XAUTOCLAIM) and applies them again, as it retries a failed
  ``apply_batch``. So ``apply_batch`` must be idempotent: upsert by key, keeping
  the newer :attr:`Write.version`, so a replay (or an old write applied after a
  newer one) changes nothing.
- **The data-loss window.** Once ``submit`` returned, the write lives only in
  Valkey until a worker applied it. If Valkey loses it (no persistence and a
  restart, or a failover to a replica that had not received it yet, since
  replication is asynchronous), it is gone. Turn on AOF (``appendfsync
  everysec`` loses up to a second) and use ``WAIT`` if that window matters.
- **Bounded, never trimmed blindly.** Applied entries are deleted, so the
  stream's length is the backlog. ``XADD MAXLEN`` would trim the oldest entries
  whether or not they were applied, silently losing accepted writes; instead a
  full backlog (``max_len``) makes ``submit`` raise :class:`WriteBehindFullError`.
- **A poison write stops progress.** A batch that always fails is retried
  forever and the backlog grows until producers get ``WriteBehindFullError``:
  loud, not silent. Fix the sink, and it drains.
- **Valkey down: submit raises.** A hung or dead server makes ``submit`` raise
  (``CircuitOpenError`` at once while :func:`~valkey_redis.connect`'s circuit
  breaker is open): nothing was queued, so the caller must write elsewhere or fail.
- **The cache is best effort.** With ``cache=...``, ``submit`` sets the entry
  after the stream took the write; if that fails, it deletes the entry (best
  effort). Two writers racing on one key may leave the older value cached until
  its TTL ends.

This module is the sync face (a worker thread); the queue's commands and replies
live in :mod:`valkey_redis.core.write_behind`, shared with
:class:`valkey_redis.aio.WriteBehind` (a worker task) on the same stream.
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import Any

from valkey_redis._run import run
from valkey_redis.core.write_behind import (
    Write,
    WriteBehindCore,
    WriteBehindFullError,
    serve,
)

__all__ = ["Write", "WriteBehind", "WriteBehindFullError"]

log = logging.getLogger(__name__)


class WriteBehind(WriteBehindCore):
    """A write-behind queue on one stream (``wb:{name}:stream``) and one consumer group.

    The same object is a producer (:meth:`submit`) and a worker (:meth:`flush`,
    :meth:`reclaim`, :meth:`run`, :meth:`start`). The constructor talks to nobody.

    Args:
        client: a redis-py client (``decode_responses`` on or off) or ``RedisCluster``.
        name: the queue's name; the stream key is ``wb:{name}:stream``.
        apply_batch: writes a list of :class:`Write` to the database, idempotently;
            raising leaves the batch pending, to be retried.
        max_len: the most writes waiting to be applied; ``submit`` refuses more.
        batch_size: the most writes per ``apply_batch`` call.
        group: the consumer group name.
        consumer: this worker's name; unique per process by default, so that a
            restarted worker is a new consumer and the old one's entries get reclaimed.
        claim_idle: seconds a pending entry must be idle before :meth:`reclaim`
            takes it from another worker; longer than your slowest batch.
        cache: optional cache (``set``/``delete``) updated on ``submit``.
        poll_interval: seconds :meth:`run` blocks waiting for new entries
            (keep it below the client's socket timeout).
    """

    _LOCK = threading.Lock  # one batch at a time per object (flush vs run thread)
    _stop: threading.Event | None = None
    _thread: threading.Thread | None = None

    def submit(self, key: str, value: Any) -> str:
        """Queue ``value`` for ``key`` and return the stream entry id.

        Once this returned, a worker will apply the write (see the module
        docstring for the one window where Valkey itself can lose it).

        Raises:
            WriteBehindFullError: the backlog holds ``max_len`` writes; nothing was queued.
            TypeError: ``key`` is not a str, or ``value`` is not JSON-serializable;
                nothing was queued.
            ValueError: ``key`` is empty, or ``value`` holds NaN or infinity.
        """
        return run(self.client, self._submit_flow(key, value))

    def backlog(self) -> int:
        """Writes accepted but not yet applied (pending at a worker or not yet read)."""
        return run(self.client, self._backlog_flow())

    def pending(self) -> int:
        """Writes delivered to some worker and not yet acknowledged."""
        return run(self.client, self._pending_flow())

    def process_batch(self, *, block: float | None = None) -> int:
        """Apply one batch: this worker's own pending writes first, else new ones.

        Args:
            block: seconds to wait for new writes when there are none (None: don't wait).

        Returns:
            The number of writes applied and acknowledged (0 when there was nothing).

        Raises:
            Exception: whatever ``apply_batch`` raised; the batch stays pending.
        """
        return run(self.client, self._process_batch_flow(block))

    def flush(self) -> int:
        """Apply every write this worker can get (its pending ones, then all new ones).

        Writes pending at another worker stay there: call :meth:`reclaim` first
        if that worker died. Returns the number of writes applied.
        """
        return run(self.client, self._flush_flow())

    def reclaim(self, min_idle: float | None = None) -> int:
        """Take over writes pending longer than ``min_idle`` s at any worker (XAUTOCLAIM).

        A worker that crashed before acknowledging leaves its batch pending; after
        this call the writes are this worker's, and :meth:`flush` applies them.

        Returns:
            The number of writes claimed.
        """
        return run(self.client, self._reclaim_flow(min_idle))

    def run(self, stop: threading.Event) -> None:
        """Apply writes until ``stop`` is set; reclaim idle ones every ``claim_idle`` s.

        Errors (the sink failing, Valkey unreachable) are logged and retried with
        backoff; the batch stays pending meanwhile, so nothing is lost.
        """
        run(self.client, self._serve_flow(stop.is_set), pause=stop.wait)

    def start(self) -> threading.Thread:
        """Run :meth:`run` in a daemon thread; :meth:`stop` ends it.

        The thread holds the queue only through a weak reference: a WriteBehind
        dropped without :meth:`stop` ends its thread within about one ``poll_interval``.
        """
        if self._thread is not None and self._thread.is_alive():
            return self._thread
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=_run_weakly, args=(self.client, weakref.ref(self), self._stop), daemon=True
        )
        weakref.finalize(self, self._stop.set)
        self._thread.start()
        return self._thread

    def stop(self, *, flush: bool = True, timeout: float | None = 10.0) -> None:
        """Stop the background thread, apply what is left, and leave the consumer group.

        Bounded: the thread is given ``timeout`` seconds to finish its turn (a
        read waits at most ``poll_interval``, or one socket timeout on a dead
        server: reads are not retried). If it is still busy, or its last turn
        could not reach Valkey, or the final flush cannot, the flush is skipped
        with a warning; the writes stay in the stream for the next worker. This
        worker's consumer is deleted from the group once it has nothing pending,
        so start/stop cycles leave no dead consumers behind.
        """
        if self._stop is not None:
            self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():  # stuck in a call to a hung server; it ends on its own
                log.warning(
                    "write-behind: worker still busy after %ss; writes stay queued", timeout
                )
                return
        run(self.client, self._finish_flow(flush))


def _run_weakly(client: Any, ref: weakref.ref[WriteBehind], stop: threading.Event) -> None:
    """The thread of :meth:`WriteBehind.start`: run turns while the queue is alive."""
    run(client, serve(ref, stop.is_set), pause=stop.wait)
