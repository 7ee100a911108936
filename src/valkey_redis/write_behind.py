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
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Protocol, cast

import redis
from redis.cluster import RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from valkey_redis._once import node_for, send_once
from valkey_redis._validate import count, seconds
from valkey_redis.keys import escape, tagged

__all__ = ["Write", "WriteBehind", "WriteBehindFullError"]

log = logging.getLogger(__name__)

_SUBMIT = (resources.files("valkey_redis") / "scripts" / "write_behind_submit.lua").read_text()
# How long a submit's dedup key lives: longer than redis-py's retries of one call.
_DEDUP_MS = 30_000


class WriteBehindFullError(RuntimeError):
    """The backlog reached ``max_len``: the write was NOT accepted; retry later or fail."""


class _CacheLike(Protocol):
    def set(self, key: str, value: Any) -> object: ...
    def delete(self, key: str) -> object: ...


@dataclass(frozen=True, slots=True)
class Write:
    """One write taken from the stream.

    Attributes:
        entry_id: the stream entry id, ``"<ms>-<seq>"``; unique and increasing.
        key: the record's key, as given to :meth:`WriteBehind.submit`.
        value: the value, decoded from JSON.
    """

    entry_id: str
    key: str
    value: Any

    @property
    def version(self) -> tuple[int, int]:
        """``(ms, seq)`` of the entry id: compare it to keep only the newest write per key."""
        ms, _, seq = self.entry_id.partition("-")
        return int(ms), int(seq)


class WriteBehind:
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

    def __init__(
        self,
        client: redis.Redis | RedisCluster,
        *,
        name: str,
        apply_batch: Callable[[list[Write]], None],
        max_len: int = 10_000,
        batch_size: int = 100,
        group: str = "writers",
        consumer: str | None = None,
        claim_idle: float = 60.0,
        cache: _CacheLike | None = None,
        poll_interval: float = 0.5,
    ) -> None:
        count("max_len", max_len)
        count("batch_size", batch_size)
        seconds("claim_idle", claim_idle, allow_zero=True)
        seconds("poll_interval", poll_interval)
        self.client = client
        self.stream = tagged("wb", name, "stream")
        self._name = name
        self.group = escape(group)
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"
        self.apply_batch = apply_batch
        self.max_len = max_len
        self.batch_size = batch_size
        self.claim_idle = claim_idle
        self.cache = cache
        self.poll_interval = poll_interval
        self._submit = client.register_script(_SUBMIT)
        self._lock = threading.Lock()  # one batch at a time per object (flush vs run thread)
        self._stop = threading.Event()
        # Read our own pending entries ("0") before new ones (">") after a restart
        # under the same name, a reclaim, or a failed batch; otherwise skip that trip.
        self._maybe_pending = True
        self._thread: threading.Thread | None = None
        self._unreachable = False  # the worker's last turn failed to reach Valkey

    # -- producer -----------------------------------------------------------------

    def submit(self, key: str, value: Any) -> str:
        """Queue ``value`` for ``key`` and return the stream entry id.

        Once this returned, a worker will apply the write (see the module
        docstring for the one window where Valkey itself can lose it).

        Raises:
            WriteBehindFullError: the backlog holds ``max_len`` writes; nothing was queued.
            TypeError: ``value`` is not JSON-serializable; nothing was queued.
            ValueError: ``key`` is empty.
        """
        if not key:
            msg = "key must be a non-empty string"
            raise ValueError(msg)
        payload = json.dumps(value, separators=(",", ":"))
        # A token per call: redis-py's retry of this very call is recognised, and
        # answered with the first attempt's entry id (see write_behind_submit.lua).
        dedup = tagged("wb", self._name, "submit", secrets.token_hex(12))
        args: list[str | int] = [self.max_len, key, payload, _DEDUP_MS]
        try:
            entry_id = _text(self._submit(keys=[self.stream, dedup], args=args))
        except ResponseError as exc:
            if str(exc).startswith("WBFULL"):
                msg = f"write-behind backlog of {self.stream} is full ({self.max_len} writes)"
                raise WriteBehindFullError(msg) from exc
            raise
        if self.cache is not None:
            try:
                self.cache.set(key, value)
            except Exception:  # the write is queued; a stale cache entry is the risk
                log.warning("write-behind: cache update for %r failed", key, exc_info=True)
                try:
                    self.cache.delete(key)
                except Exception:
                    log.warning("write-behind: cache delete for %r failed", key, exc_info=True)
        return entry_id

    def backlog(self) -> int:
        """Writes accepted but not yet applied (pending at a worker or not yet read)."""
        return int(self.client.xlen(self.stream))

    def pending(self) -> int:
        """Writes delivered to some worker and not yet acknowledged."""
        try:
            summary = self.client.xpending(self.stream, self.group)
        except ResponseError:  # no stream or no group yet: nothing is pending
            return 0
        return int(summary["pending"])

    # -- worker -------------------------------------------------------------------

    def process_batch(self, *, block: float | None = None) -> int:
        """Apply one batch: this worker's own pending writes first, else new ones.

        Args:
            block: seconds to wait for new writes when there are none (None: don't wait).

        Returns:
            The number of writes applied and acknowledged (0 when there was nothing).

        Raises:
            Exception: whatever ``apply_batch`` raised; the batch stays pending.
        """
        with self._lock:
            pending = self._read("0", None) if self._maybe_pending else []
            self._maybe_pending = True  # if anything below fails, re-read ours first
            entries = pending or self._read(">", block)
            writes = [w for w in (_decode(i, fields) for i, fields in entries) if w]
            if writes:
                self.apply_batch(writes)
            if entries:
                # Only now, after the sink committed, ack and delete in one
                # transaction: a crash before this means a replay, never a loss.
                ids = [entry_id for entry_id, _ in entries]
                with self.client.pipeline(transaction=True) as pipe:
                    pipe.xack(self.stream, self.group, *ids)
                    pipe.xdel(self.stream, *ids)
                    pipe.execute()
            self._maybe_pending = bool(pending)  # a pending batch may have more behind it
            return len(writes)

    def flush(self) -> int:
        """Apply every write this worker can get (its pending ones, then all new ones).

        Writes pending at another worker stay there: call :meth:`reclaim` first
        if that worker died. Returns the number of writes applied.
        """
        total = 0
        while applied := self.process_batch():
            total += applied
        return total

    def reclaim(self, min_idle: float | None = None) -> int:
        """Take over writes pending longer than ``min_idle`` s at any worker (XAUTOCLAIM).

        A worker that crashed before acknowledging leaves its batch pending; after
        this call the writes are this worker's, and :meth:`flush` applies them.

        Returns:
            The number of writes claimed.
        """
        idle_ms = int(1000 * (self.claim_idle if min_idle is None else min_idle))
        claimed, cursor = 0, "0-0"
        with self._lock:
            self._ensure_group()
            while True:
                reply = cast(
                    Sequence[Any],
                    self.client.xautoclaim(
                        self.stream,
                        self.group,
                        self.consumer,
                        idle_ms,
                        start_id=cursor,
                        count=self.batch_size,
                    ),
                )
                # [cursor, [(id, fields), ...], deleted ids]; redis-py's JUSTID
                # parsing drops the cursor, so we take the full entries.
                cursor, ids = _text(reply[0]), reply[1]
                claimed += len(ids)
                self._maybe_pending = self._maybe_pending or bool(ids)
                if cursor == "0-0":
                    return claimed

    def run(self, stop: threading.Event) -> None:
        """Apply writes until ``stop`` is set; reclaim idle ones every ``claim_idle`` s.

        Errors (the sink failing, Valkey unreachable) are logged and retried with
        backoff; the batch stays pending meanwhile, so nothing is lost.
        """
        state = _RunState()
        while not stop.is_set():
            delay = self._step(state)
            if delay:
                stop.wait(delay)

    def _step(self, state: _RunState) -> float:
        """One turn of :meth:`run`; returns the seconds to wait before the next one."""
        try:
            if time.monotonic() >= state.next_reclaim:
                self.reclaim()
                state.next_reclaim = time.monotonic() + max(self.claim_idle, self.poll_interval)
            self.process_batch(block=self.poll_interval)
        except Exception as exc:
            self._unreachable = isinstance(exc, RedisConnectionError | RedisTimeoutError)
            state.failures += 1
            delay = min(5.0, 0.1 * 2.0**state.failures)
            log.exception("write-behind worker %s failed; retry in %.1fs", self.consumer, delay)
            return delay
        state.failures = 0
        self._unreachable = False
        return 0.0

    def start(self) -> threading.Thread:
        """Run :meth:`run` in a daemon thread; :meth:`stop` ends it.

        The thread holds the queue only through a weak reference: a WriteBehind
        dropped without :meth:`stop` ends its thread within one ``poll_interval``.
        """
        if self._thread is not None and self._thread.is_alive():
            return self._thread
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=_run_weakly, args=(weakref.ref(self), self._stop), daemon=True
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
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():  # stuck in a call to a hung server; it ends on its own
                log.warning(
                    "write-behind: worker still busy after %ss; writes stay queued", timeout
                )
                return
        if self._unreachable:  # the worker's last turn could not reach Valkey: don't wait again
            log.warning("write-behind: Valkey unreachable at stop(); writes stay queued")
            return
        try:
            if flush:
                self.flush()
            self._leave_group()
        except (RedisConnectionError, RedisTimeoutError) as exc:
            log.warning("write-behind: stop() could not reach Valkey (%s); writes stay queued", exc)

    def _leave_group(self) -> None:
        try:
            mine = self.client.xpending_range(
                self.stream, self.group, "-", "+", 1, consumername=self.consumer
            )
        except ResponseError:  # no stream or no group: nothing to leave
            return
        if not mine:  # deleting a consumer with pending entries would strand them
            self.client.xgroup_delconsumer(self.stream, self.group, self.consumer)

    # -- internals ----------------------------------------------------------------

    def _ensure_group(self) -> None:
        # Start at 0, not $: writes submitted before any worker existed are applied too.
        try:
            self.client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def _read(self, start: str, block: float | None) -> list[tuple[Any, Any]]:
        """XREADGROUP, sent once: a retry after a lost reply would return nothing
        (the entries were delivered), and the batch would wait for :meth:`reclaim`.
        Raising instead leaves ``_maybe_pending`` set, so the next batch reads them."""
        command: list[Any] = ["XREADGROUP", "GROUP", self.group, self.consumer]
        command += ["COUNT", self.batch_size]
        if block is not None:
            command += ["BLOCK", max(1, int(block * 1000))]
        command += ["STREAMS", self.stream, start]
        node = node_for(self.client, self.stream)

        def read() -> Any:
            return send_once(node, tuple(command))

        try:
            reply = read()
        except ResponseError:
            # No group (first run, or Valkey restarted empty): create it and retry once.
            self._ensure_group()
            reply = read()
        if not reply:
            return []
        return cast(list[tuple[Any, Any]], reply[0][1])


class _RunState:
    """What :meth:`WriteBehind.run` carries from one turn to the next."""

    def __init__(self) -> None:
        self.failures = 0
        self.next_reclaim = time.monotonic()


def _run_weakly(ref: weakref.ref[WriteBehind], stop: threading.Event) -> None:
    """The thread of :meth:`WriteBehind.start`: run turns while the queue is alive."""
    state = _RunState()
    while not stop.is_set():
        queue = ref()
        if queue is None:
            return
        delay = queue._step(state)
        del queue  # between turns, only the weak reference keeps us going
        if delay:
            stop.wait(delay)


def _text(value: object) -> str:
    """Replies are str with ``decode_responses=True`` and bytes without it."""
    return value.decode() if isinstance(value, bytes) else str(value)


def _decode(entry_id: object, fields: dict[Any, Any] | None) -> Write | None:
    """Turn a stream entry into a Write; an entry that is not ours is logged and dropped."""
    try:
        if fields is not None:  # None: the entry was deleted while pending
            text = {_text(name): _text(value) for name, value in fields.items()}
            return Write(_text(entry_id), text["k"], json.loads(text["v"]))
    except (KeyError, ValueError):
        pass
    log.error("write-behind: dropping malformed entry %s: %r", entry_id, fields)
    return None
