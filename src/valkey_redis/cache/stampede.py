"""Stampede protection building blocks: in-process call merging and XFetch early refresh.

Use this when many callers may miss the same key at once (a cold start, a hot
key expiring): :class:`SingleFlight` lets one thread per process run the loader
while the others wait for its result, and :func:`should_refresh_early` lets a
hot key be recomputed shortly *before* it expires, by one caller chosen at
random, so it never expires under load. :class:`valkey_redis.Cache` combines
both with :func:`lead_or_wait`: a short-lived lock key in Valkey that does the
same across processes (a flow, so :class:`valkey_redis.aio.Cache` runs the same
code; its tasks merge in :class:`valkey_redis.aio._flight.TaskFlight`).

Not for: long jobs or mutual exclusion with side effects; use
:class:`valkey_redis.Lock` (fencing tokens) for that.

How it fails: a waiter gives up after its timeout (:class:`WaitTimeoutError`, or
``lead_or_wait`` returning empty-handed) instead of hanging on a stuck loader; a
lock whose holder crashed expires after its ``lock_timeout`` and is taken over.
When the loader raises, every thread merged onto that call gets the *same*
exception object, and nothing is remembered: the next call starts a fresh load.

XFetch (Vattani, Chierichetti, Lowenstein, "Optimal Probabilistic Cache Stampede
Prevention", VLDB 2015): recompute early iff ``-delta * beta * log(rand()) >=
remaining``, where ``delta`` is how long the last load took. Slow loads start
refreshing earlier; ``beta > 1`` favours earlier refreshes, ``beta = 0`` disables them.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar, cast

from valkey_redis.core.flow import Command, Flow, Pipeline, Sleep

__all__ = [
    "SingleFlight",
    "WaitTimeoutError",
    "backoff_delays",
    "lead_or_wait",
    "should_refresh_early",
]

T = TypeVar("T")


def should_refresh_early(
    remaining: float,
    delta: float,
    beta: float = 1.0,
    rand: Callable[[], float] = random.random,
) -> bool:
    """Decide whether this caller should recompute an entry before it expires (XFetch).

    Args:
        remaining: seconds until the cached entry expires.
        delta: seconds the last computation of the entry took.
        beta: eagerness; 1.0 is the paper's optimum, 0 never refreshes early.
        rand: a uniform random number in [0, 1) like ``random.random``; injectable for tests.

    Returns:
        True when the caller should recompute now.
    """
    if remaining <= 0:
        return True
    if delta <= 0 or beta <= 0:
        return False
    sample = rand()
    if sample <= 0:  # log(0) is -inf: an infinitely early refresh
        return True
    return -delta * beta * math.log(sample) >= remaining


def backoff_delays(first: float = 0.002, cap: float = 0.1) -> Iterator[float]:
    """Yield poll delays that double from ``first`` up to ``cap``, with +-25% jitter.

    The jitter spreads waiting processes out so they do not poll in lockstep.
    """
    delay = first
    while True:
        yield delay * random.uniform(0.75, 1.25)
        delay = min(delay * 2, cap)


class WaitTimeoutError(TimeoutError):
    """The in-flight call we merged onto did not finish in time."""


class _Call(Generic[T]):
    __slots__ = ("done", "error", "value", "waiters")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.waiters = 0
        self.value: T | None = None
        self.error: BaseException | None = None


class SingleFlight(Generic[T]):
    """Merge concurrent calls for the same key in one process onto a single execution.

    Example:
        >>> flight: SingleFlight[int] = SingleFlight()
        >>> flight.run("answer", lambda: 42, timeout=1.0)
        42
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[str, _Call[T]] = {}

    def busy(self, key: str) -> bool:
        """Return True while a call for ``key`` is in flight."""
        with self._lock:
            return key in self._calls

    def waiters(self, key: str) -> int:
        """Return how many callers are waiting on the in-flight call for ``key``."""
        with self._lock:
            call = self._calls.get(key)
            return 0 if call is None else call.waiters

    def run(self, key: str, fn: Callable[[], T], *, timeout: float) -> T:
        """Run ``fn`` once for all concurrent callers of ``key`` and return its result.

        Args:
            key: what identifies "the same call".
            fn: the work; runs in the first caller's thread.
            timeout: seconds a merged caller waits for the first one.

        Raises:
            WaitTimeoutError: a merged caller waited longer than ``timeout``.
            BaseException: whatever ``fn`` raised, in every merged caller.
        """
        with self._lock:
            call = self._calls.get(key)
            leader = call is None
            if call is None:
                call = self._calls[key] = _Call()
            else:
                call.waiters += 1
        if leader:
            try:
                call.value = fn()
            except BaseException as exc:
                call.error = exc
                raise
            finally:
                with self._lock:
                    del self._calls[key]
                call.done.set()
            return call.value
        if not call.done.wait(timeout):
            msg = f"gave up after {timeout}s waiting for the in-flight load of {key!r}"
            raise WaitTimeoutError(msg)
        if call.error is not None:
            raise call.error
        return cast(T, call.value)  # set whenever error is None


def lead_or_wait(
    value_key: str,
    lock_key: str,
    token: str,
    *,
    lock_timeout: float,
    wait_timeout: float,
    fresh: Callable[[bytes], T | None],
    seen: bytes | None = None,
) -> Flow[tuple[bool, T | None]]:
    """Take the load lock of a key, or wait until its holder has stored a value.

    Each attempt is one round trip: ``SET lock token NX PX``, ``GET lock``, ``GET value``,
    pipelined. Reading *after* trying the lock means a load that finished just
    before we got the lock is seen and not repeated. Waiters poll with backoff
    and take the lock over when it expires (its holder crashed).

    Args:
        value_key: where the loaded value is stored.
        lock_key: the lock (same hash slot as ``value_key``); it holds ``token`` while ours.
        token: a random value identifying this caller.
        lock_timeout: seconds the lock lives unless released.
        wait_timeout: seconds to wait before giving up.
        fresh: decodes a stored value; returns None for unreadable bytes.
        seen: the bytes already read when refreshing early: only a *different*
            value counts as fresh, and we do not wait for someone else's refresh.

    Returns:
        ``(holds_lock, value)``: ``(True, None)``: load now, then release the lock;
        ``(held, value)``: someone stored ``value`` (release the lock if held);
        ``(False, None)``: gave up (timeout, or a refresh already runs elsewhere).

    Raises:
        redis.exceptions.RedisError: when the server fails.
    """
    deadline = time.monotonic() + wait_timeout
    delays = backoff_delays()
    # The lock's holder is read in the same round trip: after a lost reply, redis-py's
    # retry of the pipeline finds our own token there (its SET NX says no) and we
    # lead, instead of waiting for ourselves.
    px = max(1, int(lock_timeout * 1000))
    attempt = Pipeline(
        (
            Command(("SET", lock_key, token, "NX", "PX", px)),
            Command(("GET", lock_key)),
            Command(("GET", value_key), raw=True),
        )
    )
    while True:
        taken, holder, raw = yield attempt
        acquired = bool(taken) or holder in (token, token.encode())
        value = fresh(raw) if raw is not None and raw != seen else None
        if value is not None or acquired or seen is not None:
            return bool(acquired), value
        left = deadline - time.monotonic()
        if left <= 0:
            return False, None
        yield Sleep(min(next(delays), left))
