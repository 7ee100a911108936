"""A second correct solution of exercise 7, written differently: an RLock, the probe as a
flag, state derived from timestamps, and get_with_fallback with allow()/record_*().

Kept as test data: the grader must accept it as well as the reference.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar, cast

import redis

T = TypeVar("T")


class CircuitOpenError(redis.ConnectionError):
    """Raised by CircuitBreaker.call while the breaker refuses calls."""


class CircuitBreaker:
    """Open while ``opened_at`` is set; half-open while the probe flag is up."""

    def __init__(
        self,
        failure_threshold: int = 5,
        reset_timeout: float = 30.0,
        slow_call: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Start closed."""
        self._threshold = failure_threshold
        self._reset = reset_timeout
        self._slow = slow_call
        self._clock = clock
        self._mutex = threading.RLock()
        self._streak = 0
        self._opened_at: float | None = None
        self._probing = False

    @property
    def state(self) -> str:
        """closed / open / half-open."""
        with self._mutex:
            if self._opened_at is None:
                return "closed"
            return "half-open" if self._probing else "open"

    def allow(self) -> bool:
        """True when closed, or for the single probe after the cool-down."""
        now = self._clock()
        with self._mutex:
            if self._opened_at is None:
                return True
            if self._probing or now < self._opened_at + self._reset:
                return False
            self._probing = True
            return True

    def record_success(self) -> None:
        """Close and forget."""
        with self._mutex:
            self._streak, self._opened_at, self._probing = 0, None, False

    def record_failure(self) -> None:
        """Count; trip at the threshold or on a failed probe."""
        with self._mutex:
            self._streak += 1
            if self._probing or (self._opened_at is None and self._streak >= self._threshold):
                self._opened_at, self._probing = self._clock(), False

    def call(self, func: Callable[[], T]) -> T:
        """Run func through the breaker."""
        if not self.allow():
            raise CircuitOpenError("open")
        began = self._clock()
        try:
            value = func()
        except (redis.ConnectionError, redis.TimeoutError):
            self.record_failure()
            raise
        except BaseException:
            with self._mutex:
                self._probing = False  # the server answered; neither counted
                if self._opened_at is not None:
                    self._opened_at = self._clock() - self._reset
            raise
        (self.record_failure if self._clock() - began > self._slow else self.record_success)()
        return value


def get_with_fallback(
    client: redis.Redis,
    breaker: CircuitBreaker,
    key: str,
    load: Callable[[], str],
    ttl: int,
) -> str:
    """Cache-aside behind the breaker, with allow() and record_*() by hand."""
    if not breaker.allow():
        return load()
    try:
        cached = cast(str | None, client.get(key))
    except (redis.ConnectionError, redis.TimeoutError):
        breaker.record_failure()
        return load()
    breaker.record_success()
    if cached is not None:
        return cached
    value = load()
    if breaker.allow():
        try:
            client.set(key, value, ex=ttl)
            breaker.record_success()
        except (redis.ConnectionError, redis.TimeoutError):
            breaker.record_failure()
    return value
