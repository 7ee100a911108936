"""The write-behind queue's core: settings, the stream's commands and replies, as flows.

Use this through the faces: :class:`valkey_redis.WriteBehind` (a worker thread) and
:class:`valkey_redis.aio.WriteBehind` (a worker task). Both run these flows on the
same stream (``wb:{name}:stream``), consumer group and submit script, so a sync
producer and an async worker (or the reverse) share one queue.

Not for: the guarantees and failure modes; :mod:`valkey_redis.write_behind`
documents them (at-least-once, the data-loss window, backpressure).

How it fails: as documented there; here, a full backlog becomes
:class:`WriteBehindFullError` and a missing group (first run, a flushed server)
is created and the read retried once.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, cast

from redis.exceptions import ResponseError

from valkey_redis._validate import count, seconds
from valkey_redis.core.flow import Call, Command, Eval, Flow, Locked, Pipeline, Sleep
from valkey_redis.core.scripts import script
from valkey_redis.core.send import OUTAGE, check_face
from valkey_redis.keys import escape, tagged

__all__ = ["Turns", "Write", "WriteBehindCore", "WriteBehindFullError", "idle_consumer", "serve"]

log = logging.getLogger("valkey_redis.write_behind")

_SUBMIT = script("write_behind_submit")
# How long a submit's dedup key lives: longer than redis-py's retries of one call.
_DEDUP_MS = 30_000


class WriteBehindFullError(RuntimeError):
    """The backlog reached ``max_len``: the write was NOT accepted; retry later or fail."""


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


class WriteBehindCore:
    """Settings and flows of one queue; the arguments are documented on the faces.

    A face sets ``_LOCK``, its lock class (``threading.Lock`` or ``asyncio.Lock``):
    one batch at a time per object, between ``flush()`` and the background worker.
    """

    _LOCK: ClassVar[type[Any]]

    def __init__(
        self,
        client: Any,
        *,
        name: str,
        apply_batch: Callable[[list[Write]], Any],
        max_len: int = 10_000,
        batch_size: int = 100,
        group: str = "writers",
        consumer: str | None = None,
        claim_idle: float = 60.0,
        cache: Any = None,
        poll_interval: float = 0.5,
    ) -> None:
        if not callable(apply_batch):
            kind = type(apply_batch).__name__
            msg = f"apply_batch must be a function of a list of writes, not {kind}"
            raise TypeError(msg)
        count("max_len", max_len)
        count("batch_size", batch_size)
        seconds("claim_idle", claim_idle, allow_zero=True)
        seconds("poll_interval", poll_interval)
        check_face(client, self)
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
        self._lock = self._LOCK()
        # Read our own pending entries ("0") before new ones (">") after a restart
        # under the same name, a reclaim, or a failed batch; otherwise skip that trip.
        self._maybe_pending = True
        self._unreachable = False  # the worker's last turn could not reach Valkey

    # -- producer -----------------------------------------------------------------

    def _submit_flow(self, key: str, value: Any) -> Flow[str]:
        if not isinstance(key, str):
            msg = f"key must be a str, not {type(key).__name__}"
            raise TypeError(msg)
        if not key:
            msg = "key must be a non-empty string"
            raise ValueError(msg)
        try:  # strict JSON, as the cache: NaN and Infinity are not JSON
            payload = json.dumps(value, separators=(",", ":"), allow_nan=False)
        except ValueError as exc:
            msg = f"write-behind values must be JSON: {exc}"
            raise ValueError(msg) from None
        # A token per call: redis-py's retry of this very call is recognised, and
        # answered with the first attempt's entry id (see write_behind_submit.lua).
        dedup = tagged("wb", self._name, "submit", secrets.token_hex(12))
        args = (self.max_len, key, payload, _DEDUP_MS)
        try:
            entry_id = _text((yield Eval(_SUBMIT, (self.stream, dedup), args)))
        except ResponseError as exc:
            if str(exc).startswith("WBFULL"):
                msg = f"write-behind backlog of {self.stream} is full ({self.max_len} writes)"
                raise WriteBehindFullError(msg) from exc
            raise
        if self.cache is not None:
            try:
                yield Call(lambda: self.cache.set(key, value))
            except Exception:  # the write is queued; a stale cache entry is the risk
                log.warning("write-behind: cache update for %r failed", key, exc_info=True)
                try:
                    yield Call(lambda: self.cache.delete(key))
                except Exception:
                    log.warning("write-behind: cache delete for %r failed", key, exc_info=True)
        return entry_id

    def _backlog_flow(self) -> Flow[int]:
        return int((yield Command(("XLEN", self.stream))))

    def _pending_flow(self) -> Flow[int]:
        try:
            summary = yield Command(("XPENDING", self.stream, self.group))
        except ResponseError:  # no stream or no group yet: nothing is pending
            return 0
        return int(summary["pending"])

    # -- worker -------------------------------------------------------------------

    def _process_batch_flow(self, block: float | None) -> Flow[int]:
        return cast(int, (yield Locked(self._lock, self._batch_flow(block))))

    def _batch_flow(self, block: float | None) -> Flow[int]:
        pending = (yield from self._read("0", None)) if self._maybe_pending else []
        self._maybe_pending = True  # if anything below fails, re-read ours first
        entries = pending or (yield from self._read(">", block))
        writes = [w for w in (_decode(i, fields) for i, fields in entries) if w]
        if writes:
            yield Call(lambda: self.apply_batch(writes))
        if entries:
            # Only now, after the sink committed, ack and delete in one
            # transaction: a crash before this means a replay, never a loss.
            ids = [entry_id for entry_id, _ in entries]
            ack = Command(("XACK", self.stream, self.group, *ids))
            yield Pipeline((ack, Command(("XDEL", self.stream, *ids))), transaction=True)
        self._maybe_pending = bool(pending)  # a pending batch may have more behind it
        return len(writes)

    def _flush_flow(self) -> Flow[int]:
        total = 0
        while applied := (yield from self._process_batch_flow(None)):
            total += applied
        return total

    def _reclaim_flow(self, min_idle: float | None) -> Flow[int]:
        return cast(int, (yield Locked(self._lock, self._claim_flow(min_idle))))

    def _claim_flow(self, min_idle: float | None) -> Flow[int]:
        idle_ms = int(1000 * (self.claim_idle if min_idle is None else min_idle))
        claimed, cursor = 0, "0-0"
        yield from self._ensure_group()
        while True:
            reply = cast(
                Sequence[Any],
                (
                    yield Command(
                        (
                            "XAUTOCLAIM",
                            self.stream,
                            self.group,
                            self.consumer,
                            idle_ms,
                            cursor,
                            "COUNT",
                            self.batch_size,
                        )
                    )
                ),
            )
            # [cursor, [(id, fields), ...], deleted ids]: the full entries, whose
            # parsing keeps the cursor (redis-py's JUSTID parsing drops it).
            cursor, ids = _text(reply[0]), reply[1]
            claimed += len(ids)
            self._maybe_pending = self._maybe_pending or bool(ids)
            if cursor == "0-0":
                return claimed

    def _serve_flow(self, stopped: Callable[[], bool]) -> Flow[None]:
        """The worker loop of ``run()``: :func:`serve` on this queue."""
        return serve(lambda: self, stopped)

    def _turn_flow(self, state: Turns) -> Flow[float]:
        """One turn of the worker loop; returns the seconds to wait before the next."""
        try:
            if time.monotonic() >= state.next_reclaim:
                yield from self._reclaim_flow(None)
                state.next_reclaim = time.monotonic() + max(self.claim_idle, self.poll_interval)
            yield from self._process_batch_flow(self.poll_interval)
        except Exception as exc:
            self._unreachable = isinstance(exc, OUTAGE)
            state.failures += 1
            delay = min(5.0, 0.1 * 2.0**state.failures)
            log.exception("write-behind worker %s failed; retry in %.1fs", self.consumer, delay)
            return delay
        state.failures = 0
        self._unreachable = False
        return 0.0

    def _finish_flow(self, flush: bool) -> Flow[None]:
        """``stop()`` once the worker ended: flush, then leave the group; an outage only warns.

        Skipped (with a warning) when the worker's last turn could not reach Valkey:
        waiting for it again would only delay the stop. Writes left stay in the
        stream for the next worker.
        """
        if self._unreachable:
            log.warning("write-behind: Valkey unreachable at stop(); writes stay queued")
            return
        try:
            if flush:
                yield from self._flush_flow()
            yield from self._leave_flow()
        except OUTAGE as exc:
            log.warning("write-behind: stop() could not reach Valkey (%s); writes stay queued", exc)

    def _leave_flow(self) -> Flow[None]:
        """Delete this worker's consumer from the group, unless it still has pending writes."""
        try:
            consumers = yield Command(("XINFO CONSUMERS", self.stream, self.group))
        except ResponseError:  # no stream or no group: nothing to leave
            return
        if idle_consumer(consumers, self.consumer):  # else deleting would strand its entries
            yield Command(("XGROUP DELCONSUMER", self.stream, self.group, self.consumer))

    # -- internals ----------------------------------------------------------------

    def _ensure_group(self) -> Flow[None]:
        # Start at 0, not $: writes submitted before any worker existed are applied too.
        try:
            yield Command(("XGROUP", "CREATE", self.stream, self.group, "0", "MKSTREAM"))
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def _read(self, start: str, block: float | None) -> Flow[list[tuple[Any, Any]]]:
        wait = () if block is None else ("BLOCK", max(1, int(block * 1000)))
        # Sent once: a retry after a lost reply would find the entries delivered and
        # answer nothing, leaving the batch for reclaim; raising instead keeps
        # _maybe_pending set, so the next batch reads our pending entries first.
        read = Command(
            (
                "XREADGROUP",
                "GROUP",
                self.group,
                self.consumer,
                "COUNT",
                self.batch_size,
                *wait,
                "STREAMS",
                self.stream,
                start,
            ),
            once=True,
            key=self.stream,
        )
        try:
            reply = yield read
        except ResponseError:
            # No group (first run, or Valkey restarted empty): create it and retry once.
            yield from self._ensure_group()
            reply = yield read
        if not reply:
            return []
        return cast(list[tuple[Any, Any]], reply[0][1])


def serve(queue: Callable[[], WriteBehindCore | None], stopped: Callable[[], bool]) -> Flow[None]:
    """The worker loop: apply writes until ``stopped()``; reclaim every ``claim_idle`` s.

    ``queue()`` returns the queue, or None once it is gone: the faces' background
    workers pass a weak reference, so a queue dropped without ``stop()`` is
    collected and its worker ends after its current turn. Between turns the loop
    holds no strong reference to the queue.

    Errors (the sink failing, Valkey unreachable) are logged and retried with
    backoff (a Sleep the face may cut short when stopping); the batch stays
    pending meanwhile, so nothing is lost.
    """
    state = Turns()
    while not stopped():
        current = queue()
        if current is None:
            return
        delay = yield from current._turn_flow(state)
        del current
        if delay:
            yield Sleep(delay)


def idle_consumer(consumers: Sequence[dict[Any, Any]], consumer: str) -> bool:
    """True when ``consumer`` is in ``XINFO CONSUMERS``'s reply with nothing pending.

    Only such a consumer may be deleted: deleting one with pending entries would
    strand them (no ``>`` read delivers them again, only a reclaim).
    """
    mine = [c for c in consumers if _text(c.get("name", "")) == consumer]
    return bool(mine) and int(mine[0].get("pending", 0)) == 0


class Turns:
    """What the worker loop carries from one turn to the next."""

    def __init__(self) -> None:
        self.failures = 0
        self.next_reclaim = time.monotonic()


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
