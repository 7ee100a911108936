"""Exercise 7 — circuit breaker.

Before you start: read docs/failure-modes.md, run `make example-9` (when Valkey fails).
Then replace each `raise NotImplementedError` and run `make grade EX=7`.
Stuck? `make hint EX=7`. Solved? Compare with exercises/solutions/exercise_7.py.

A hung or dead cache must not turn every request into a long wait. A circuit
breaker counts the cache's failures; after a few in a row it "opens" and callers
skip the cache at once (serving the source instead) until, after a cool-down,
one probe call is let through to see whether the server is back.
`client` is a redis-py client with `decode_responses=True`.

Tasks:
1. CircuitBreaker    — closed / open / half-open with a single probe; thread-safe.
2. get_with_fallback — cache-aside that asks a breaker first and falls back to `load`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import redis

T = TypeVar("T")


class CircuitOpenError(redis.ConnectionError):
    """Raised by :meth:`CircuitBreaker.call` while the breaker refuses calls.

    A subclass of redis-py's ``ConnectionError``, so code that already handles an
    unreachable server (``except redis.ConnectionError``) handles this too.
    Given: nothing to do here.
    """


class CircuitBreaker:
    """A thread-safe circuit breaker: closed, open, half-open with a single probe.

    ``CircuitBreaker(failure_threshold=5, reset_timeout=30.0, slow_call=1.0,
    clock=time.monotonic)``. Read the time only through ``clock()`` (seconds,
    any origin): the grader passes its own clock.

    - ``state`` is ``"closed"``, ``"open"`` or ``"half-open"``. It starts closed.
    - Closed: ``allow()`` returns True. ``record_failure()`` counts a failure;
      ``failure_threshold`` failures in a row open the breaker.
      ``record_success()`` resets that count to 0.
    - Open: ``allow()`` returns False, until ``reset_timeout`` seconds have passed
      since it opened. Then the first ``allow()`` returns True (that caller is the
      probe) and the state becomes half-open. Reading ``state`` never changes it
      (it says ``"open"`` until that first ``allow()``), and a failure recorded
      while open (a late reply of a call that started earlier) neither extends nor
      restarts the cool-down.
    - Half-open: every other ``allow()`` returns False while the probe is out.
      The probe's ``record_success()`` closes the breaker (count back to 0); its
      ``record_failure()`` opens it again for a full ``reset_timeout``.
    - ``call(func)``: when ``allow()`` refuses, raise :class:`CircuitOpenError`
      without calling ``func``. Otherwise run ``func()``: a redis
      ``ConnectionError`` or ``TimeoutError`` is recorded as a failure and
      re-raised; any other exception (a ``ResponseError``, say: the server did
      answer) is re-raised unchanged and is not a failure, and a probe that meets
      one must not leave the breaker waiting for that probe forever; a call that returns after more
      than ``slow_call`` seconds (by ``clock``) counts as one failure, not more
      (its value is still returned); else it is a success.
    - One breaker is shared by every thread of a process: failures recorded by
      different threads add up, and among threads calling ``allow()`` at the same
      time in half-open exactly one gets the probe.
    """

    def __init__(
        self,
        failure_threshold: int = 5,
        reset_timeout: float = 30.0,
        slow_call: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Start closed, with no failures counted."""
        # TODO: keep the settings; set up the state, the failure count and a lock.
        raise NotImplementedError

    @property
    def state(self) -> str:
        """``"closed"``, ``"open"`` or ``"half-open"``."""
        # TODO: return the current state.
        raise NotImplementedError

    def allow(self) -> bool:
        """True if a call may go to the server now (the probe, when half-open)."""
        # TODO: closed -> True; open -> False until reset_timeout passed, then one probe.
        raise NotImplementedError

    def record_success(self) -> None:
        """A call to the server worked."""
        # TODO: reset the failure count; a successful probe closes the breaker.
        raise NotImplementedError

    def record_failure(self) -> None:
        """A call to the server failed (or was too slow)."""
        # TODO: count it; open at failure_threshold; a failed probe opens again.
        raise NotImplementedError

    def call(self, func: Callable[[], T]) -> T:
        """Run ``func()`` through the breaker and record how it went."""
        # TODO: refuse with CircuitOpenError, or run func and record the outcome.
        raise NotImplementedError


def get_with_fallback(
    client: redis.Redis,
    breaker: CircuitBreaker,
    key: str,
    load: Callable[[], str],
    ttl: int,
) -> str:
    """Return the value cached at ``key``, or ``load()`` when the cache cannot help.

    Cache-aside: GET ``key``; a hit (any string, ``""`` included) returns it
    without calling ``load``; a miss calls ``load()`` once, caches its value with
    ``SET key value EX ttl`` (one command: the key never exists without its TTL)
    and returns it.

    The breaker (the grader passes its own, with the same methods as yours):

    - Ask it first. When it refuses (``allow()`` is False, or ``call`` raises
      :class:`CircuitOpenError`), return ``load()`` without sending any command.
    - Every command goes through the breaker. A redis ``ConnectionError`` or
      ``TimeoutError`` from any command (the SET included) is recorded as a
      failure and answered with the loaded value: ``load`` is called at most
      once per call, even when only the SET fails.
    - Commands that worked are recorded as successes (so a probe closes it).
    - An exception raised by ``load`` itself propagates unchanged and is not the
      cache's fault: it is never recorded as a failure.

    ``breaker.call(lambda: client.get(key))`` does the asking and recording for you.
    """
    # TODO: ask the breaker; refused -> return load().
    # TODO: GET through the breaker; on a hit return it.
    # TODO: on a miss load once, SET with the TTL, and survive a failing server.
    raise NotImplementedError
