"""A circuit breaker per server: stop waiting on a Valkey that does not answer.

Use this when a cache, a session store or a limiter must not turn a hung or
dead server into slow requests. :func:`valkey_redis.connect` puts one
:class:`CircuitBreaker` on every client it makes, shared by every helper built
on that client; ``breaker_of(client)`` returns it (``.state``, ``.snapshot()``
for stats, metrics and ``/healthz``). Nothing to configure for the defaults.

States (the usual three):

- **closed** -- commands go to the server. ``failure_threshold`` failed
  attempts in a row (a timeout, a refused or dropped connection) open the
  circuit; so do ``slow_call_threshold`` slow replies in a row (slower than
  ``slow_call_duration``). A fast reply resets both counts.
- **open** -- for a cool-down (``cool_down`` seconds, doubled after each failed
  probe up to ``max_cool_down``, each +-``jitter`` at random so that many
  clients do not probe together) every command raises :class:`CircuitOpenError`
  at once, without touching the network; helpers with a fallback use it.
- **half-open** -- after the cool-down, exactly one caller (the probe) may talk
  to the server; everyone else still gets :class:`CircuitOpenError`. A fast
  reply closes the circuit; a failure or a slow reply opens it again. A probe
  that reports nothing within ``probe_timeout`` is given up and another caller
  may probe.

Not for: errors the server sends on purpose (a wrong type, a script error):
those are answers, and count as a healthy reply. Nor for retrying: retries and
the per-call time budget live in the client (see :mod:`valkey_redis.client`).

How it fails: the breaker is per client object, so two clients of one server
learn separately, and processes learn separately. A stall of this process (a
GC pause, a starved CPU) makes in-flight replies look slow; slow replies that
overlap in time count once, so one stall cannot open the circuit by itself.
While open, a server that came back is noticed at the next probe, at most
``max_cool_down * (1 + jitter)`` seconds later.

Attaching it to another transport (the hook ``valkey_redis.aio`` uses): the
class does no I/O and takes its clock as an argument. Around each round trip::

    if not breaker.allow():          # may block nothing; grants the probe
        raise breaker.open_error()
    started = breaker.clock()
    try:
        reply = await send_and_read()
    except (ConnectionError, TimeoutError, OSError) as exc:
        breaker.record_failure(exc)
        raise
    breaker.record_success(started)  # slow or fast, decided here

Every method is thread-safe (one lock, held for a few attribute updates); the
closed-state fast path of :meth:`allow` takes no lock at all.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from redis.exceptions import ConnectionError as RedisConnectionError

__all__ = ["BreakerSnapshot", "CircuitBreaker", "CircuitOpenError", "State"]

logger = logging.getLogger("valkey_redis.breaker")

State = Literal["closed", "open", "half_open"]


def _caller() -> object:
    """Who asks: the running asyncio task, else the thread (the probe belongs to one)."""
    try:
        task = asyncio.current_task()
    except RuntimeError:  # no event loop running in this thread
        task = None
    return task if task is not None else threading.get_ident()


class CircuitOpenError(RedisConnectionError):
    """The circuit breaker of this server is open: the command was not sent.

    A subclass of ``redis.exceptions.ConnectionError``, so ``except
    ConnectionError`` clauses written for a dead server keep working.

    Attributes:
        server: the server's name, e.g. ``"127.0.0.1:6379"``.
        retry_in: seconds until the breaker lets a probe through (0 in half-open).
    """

    def __init__(self, message: str, *, server: str = "", retry_in: float = 0.0) -> None:
        super().__init__(message)
        self.server = server
        self.retry_in = retry_in


@dataclass(frozen=True)
class BreakerSnapshot:
    """The breaker's state and counters at one moment.

    Attributes:
        name: the server it guards.
        state: ``"closed"``, ``"open"`` or ``"half_open"``.
        consecutive_failures: failed attempts since the last healthy reply.
        consecutive_slow: slow replies (non-overlapping) since the last fast one.
        failures: failed attempts since the breaker was made.
        slow_calls: slow replies since the breaker was made.
        rejected: commands refused while open or half-open.
        opened: how many times the circuit opened.
        retry_in: seconds until the next probe may start (0 unless open).
        last_error: the last failure, e.g. ``"TimeoutError: Timeout reading ..."``.
    """

    name: str
    state: State
    consecutive_failures: int
    consecutive_slow: int
    failures: int
    slow_calls: int
    rejected: int
    opened: int
    retry_in: float
    last_error: str


class CircuitBreaker:
    """Closed / open / half-open with one probe; see the module docstring.

    Args:
        name: the server it guards, for messages and logs.
        failure_threshold: failed attempts in a row that open the circuit.
        slow_call_duration: seconds after which a reply counts as slow.
        slow_call_threshold: slow replies in a row that open the circuit.
        cool_down: seconds open before the first probe.
        max_cool_down: the cool-down doubles after each failed probe, up to this.
        jitter: each cool-down is multiplied by ``uniform(1 - jitter, 1 + jitter)``.
        probe_timeout: seconds after which a silent probe is given up.
        clock: monotonic seconds; inject a fake one in tests.
        rand: uniform numbers in [0, 1); inject for deterministic jitter.

    Raises:
        ValueError: for a threshold below 1 (below 2 for slow calls: one slow
            reply is not a pattern), a non-positive duration, or jitter outside [0, 1).
    """

    def __init__(
        self,
        name: str = "",
        *,
        failure_threshold: int = 3,
        slow_call_duration: float = 0.2,
        slow_call_threshold: int = 5,
        cool_down: float = 1.0,
        max_cool_down: float = 8.0,
        jitter: float = 0.2,
        probe_timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
    ) -> None:
        if failure_threshold < 1 or slow_call_threshold < 2:
            msg = "failure_threshold must be >= 1 and slow_call_threshold >= 2"
            raise ValueError(msg)
        durations = (slow_call_duration, cool_down, max_cool_down, probe_timeout)
        if not all(value > 0 for value in durations):  # `not >`: NaN is refused too
            msg = f"durations must be positive numbers of seconds, got {durations!r}"
            raise ValueError(msg)
        if not 0 <= jitter < 1:
            msg = f"jitter must be in [0, 1), got {jitter!r}"
            raise ValueError(msg)
        self.name = name
        self.failure_threshold = failure_threshold
        self.slow_call_duration = slow_call_duration
        self.slow_call_threshold = slow_call_threshold
        self.cool_down = cool_down
        self.max_cool_down = max(max_cool_down, cool_down)
        self.jitter = jitter
        self.probe_timeout = probe_timeout
        self.clock = clock
        self._rand = rand
        self._lock = threading.Lock()
        self._state: State = "closed"
        self._in_a_row = self._slow_in_a_row = 0
        self._failures = self._slow = self._rejected = self._opened = 0
        self._reopens = 0  # failed probes since the circuit last closed
        self._open_until = 0.0
        self._slow_until = -1.0  # end of the last slow reply counted (overlaps count once)
        self._probe: tuple[object, float] | None = None  # (task or thread id, started at)
        self._last_error = ""

    @property
    def state(self) -> State:
        """``"closed"``, ``"open"`` or ``"half_open"`` (open turns half-open when due)."""
        with self._lock:
            if self._state == "open" and self.clock() >= self._open_until:
                return "half_open"
            return self._state

    def allow(self) -> bool:
        """Return True if a command may be sent now; in half-open this grants the probe.

        The caller holding the probe -- the asyncio task, or the thread outside an
        event loop -- may send several commands (a reconnect's handshake, then the
        command) until its outcome is recorded; other tasks of the same thread are
        refused like other threads.
        """
        if self._state == "closed":  # fast path, no lock: a stale read only delays by one call
            return True
        with self._lock:
            now = self.clock()
            state: State = self._state  # re-read: another thread may have closed it
            if state == "closed":
                return True
            if state == "open":
                if now < self._open_until:
                    self._rejected += 1
                    return False
                self._move("half_open", "cool-down over; letting one probe through")
            me = _caller()
            probe = self._probe
            if probe is None or probe[0] == me or now - probe[1] > self.probe_timeout:
                self._probe = (me, now if probe is None or probe[0] != me else probe[1])
                return True
            self._rejected += 1
            return False

    def record_success(self, started: float) -> None:
        """Record a reply to a command sent at ``started`` (a :attr:`clock` reading)."""
        now = self.clock()
        slow = now - started > self.slow_call_duration
        if not slow and self._state == "closed" and not self._in_a_row and not self._slow_in_a_row:
            return  # fast path: nothing to reset
        with self._lock:
            if not slow:
                self._in_a_row = self._slow_in_a_row = 0
                if self._state != "closed":
                    self._close()
                return
            self._slow += 1
            self._in_a_row = 0
            if started >= self._slow_until:  # replies stalled together count once
                self._slow_in_a_row += 1
                self._slow_until = now
            if self._state == "half_open":
                self._trip(now, f"probe answered slowly ({now - started:.3f}s)")
            elif self._state == "closed" and self._slow_in_a_row >= self.slow_call_threshold:
                self._trip(now, f"{self._slow_in_a_row} slow replies in a row")

    def record_failure(self, error: BaseException | None = None) -> None:
        """Record a failed attempt: a timeout, a refused or a dropped connection."""
        with self._lock:
            now = self.clock()
            self._failures += 1
            self._in_a_row += 1
            if error is not None:
                self._last_error = f"{type(error).__name__}: {error}"
            if self._state == "half_open":
                self._trip(now, f"probe failed ({self._last_error})")
            elif self._state == "closed" and self._in_a_row >= self.failure_threshold:
                self._trip(now, f"{self._in_a_row} failures in a row ({self._last_error})")

    def open_error(self) -> CircuitOpenError:
        """Return the :class:`CircuitOpenError` to raise for a refused command."""
        with self._lock:
            retry_in = max(0.0, self._open_until - self.clock())
            why = self._last_error or "slow replies"
        msg = (
            f"circuit open for Valkey at {self.name or '?'}: not sending (last: {why}); "
            f"next probe in {retry_in:.1f}s"
        )
        return CircuitOpenError(msg, server=self.name, retry_in=retry_in)

    def snapshot(self) -> BreakerSnapshot:
        """Return the state and every counter, consistently (one lock)."""
        with self._lock:
            now = self.clock()
            state = self._state
            if state == "open" and now >= self._open_until:
                state = "half_open"
            return BreakerSnapshot(
                name=self.name,
                state=state,
                consecutive_failures=self._in_a_row,
                consecutive_slow=self._slow_in_a_row,
                failures=self._failures,
                slow_calls=self._slow,
                rejected=self._rejected,
                opened=self._opened,
                retry_in=max(0.0, self._open_until - now) if state == "open" else 0.0,
                last_error=self._last_error,
            )

    def reset(self) -> None:
        """Close the circuit and clear the in-a-row counts (the totals stay)."""
        with self._lock:
            if self._state != "closed":
                self._close()
            self._in_a_row = self._slow_in_a_row = 0

    def __repr__(self) -> str:
        return f"CircuitBreaker({self.name!r}, state={self.state!r})"

    # --- transitions (lock held) -------------------------------------------------

    def _trip(self, now: float, why: str) -> None:
        if self._state == "half_open":
            self._reopens += 1  # the server is still down: wait twice as long
        base = min(self.cool_down * 2**self._reopens, self.max_cool_down)
        wait = base * (1 + self.jitter * (2 * self._rand() - 1))
        self._open_until = now + wait
        self._opened += 1
        self._probe = None
        self._move("open", f"{why}; commands fail fast for {wait:.2f}s")

    def _close(self) -> None:
        self._reopens = 0
        self._probe = None
        self._in_a_row = self._slow_in_a_row = 0
        self._move("closed", "the server answers again")

    def _move(self, state: State, why: str) -> None:
        self._state = state
        level = logging.WARNING if state == "open" else logging.INFO
        logger.log(level, "circuit breaker for Valkey at %s: %s (%s)", self.name or "?", state, why)
