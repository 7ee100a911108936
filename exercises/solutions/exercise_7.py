"""Exercise 7 — circuit breaker (reference solution).

A breaker turns "every request waits for a dead cache" into "a few requests
notice, the rest skip the cache at once": it counts consecutive failures,
opens, and after a cool-down lets exactly one probe find out whether the
server is back (:class:`CircuitBreaker`). :func:`get_with_fallback` is
cache-aside behind it: the source answers whenever the cache cannot.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import TypeVar, cast

import redis

T = TypeVar("T")

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"


class CircuitOpenError(redis.ConnectionError):
    """Raised by :meth:`CircuitBreaker.call` while the breaker refuses calls."""


class CircuitBreaker:
    """A thread-safe circuit breaker: closed, open, half-open with a single probe."""

    def __init__(
        self,
        failure_threshold: int = 5,
        reset_timeout: float = 30.0,
        slow_call: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Start closed, with no failures counted."""
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self.slow_call = slow_call
        self._clock = clock
        # One lock around every read-and-change of the state: without it two
        # threads can both see "cool-down over" and both become the probe.
        self._lock = threading.Lock()
        self._state = CLOSED
        self._failures = 0
        self._opened_at = 0.0

    @property
    def state(self) -> str:
        """``"closed"``, ``"open"`` or ``"half-open"``."""
        with self._lock:
            return self._state

    def allow(self) -> bool:
        """True if a call may go to the server now (the probe, when half-open)."""
        with self._lock:
            if self._state == CLOSED:
                return True
            if self._state == OPEN and self._clock() - self._opened_at >= self.reset_timeout:
                # The cool-down is over: this caller, and only this one, probes.
                self._state = HALF_OPEN
                return True
            # Still cooling down, or the probe is out: skip the server.
            return False

    def record_success(self) -> None:
        """A call to the server worked."""
        with self._lock:
            # "In a row": one success wipes the count; a good probe closes.
            self._failures = 0
            self._state = CLOSED

    def record_failure(self) -> None:
        """A call to the server failed (or was too slow)."""
        with self._lock:
            if self._state == OPEN:
                # A late reply of a call that started before it opened: the
                # cool-down runs from the opening, not from the latest failure.
                return
            self._failures += 1
            if self._state == HALF_OPEN or self._failures >= self.failure_threshold:
                # A failed probe restarts the full cool-down from now.
                self._state = OPEN
                self._opened_at = self._clock()

    def call(self, func: Callable[[], T]) -> T:
        """Run ``func()`` through the breaker and record how it went."""
        if not self.allow():
            msg = "circuit open: skipping the server"
            raise CircuitOpenError(msg)
        started = self._clock()
        try:
            result = func()
        except (redis.ConnectionError, redis.TimeoutError):
            self.record_failure()
            raise
        # Any other error (WRONGTYPE, say) came from a server that answered: not
        # a failure. Counted as a success, so a probe that met it still closes.
        except Exception:
            self.record_success()
            raise
        # A slow answer is as bad as none for a cache: one failure, value kept.
        if self._clock() - started > self.slow_call:
            self.record_failure()
        else:
            self.record_success()
        return result


def get_with_fallback(
    client: redis.Redis,
    breaker: CircuitBreaker,
    key: str,
    load: Callable[[], str],
    ttl: int,
) -> str:
    """Return the value cached at ``key``, or ``load()`` when the cache cannot help."""
    try:
        cached = breaker.call(lambda: cast(str | None, client.get(key)))
    except (redis.ConnectionError, redis.TimeoutError):
        # Open breaker (CircuitOpenError is a ConnectionError) or a dead server:
        # the source answers. load() runs outside the try, so its own errors
        # propagate and are never blamed on the cache.
        return load()
    if cached is not None:
        return cached
    value = load()
    # The value is in hand: failing to cache it this time costs nothing more.
    with contextlib.suppress(redis.ConnectionError, redis.TimeoutError):
        breaker.call(lambda: client.set(key, value, ex=ttl))
    return value
