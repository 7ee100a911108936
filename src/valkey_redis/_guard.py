"""The breaker and the time budget on redis-py's sync connections (what ``connect()`` installs).

Use this through :func:`valkey_redis.connect`; it is the glue between redis-py
and the I/O-free :class:`~valkey_redis.breaker.CircuitBreaker`:

- :func:`guarded` wraps a connection class (TCP, TLS or Unix socket) so that
  every socket connect and every command first asks the breaker, and every
  reply or network error is reported to it. Replies to blocking commands
  (``XREADGROUP BLOCK``, ``BLPOP``, ``WAIT``...) wait their own block time on top
  of the socket timeout and never count as slow.
- :class:`BudgetRetry` is redis-py's retry with two changes: a
  :class:`~valkey_redis.breaker.CircuitOpenError` is never retried, and no
  attempt starts after the call's total budget (``call_timeout``) is spent.
  Retries nested inside one call (redis-py retries the socket connect inside a
  command's retry) share that one budget.
- :class:`~valkey_redis.core.guard.Budget` gives a block of code one budget
  (both faces' ``Lock.acquire`` use it): every reply inside it is awaited at
  most until the deadline.

Not for: clients you build yourself with ``redis.Redis(...)``: those have no
breaker. Cluster clients get one breaker per node (:func:`per_server`) but keep
redis-py's cluster retries, without the call budget.

How it fails: a command cut short by the budget raises ``TimeoutError``; like any
timeout its reply may have been lost after the server ran it (see
:mod:`valkey_redis.client` on retries). The budget bounds waiting on the
network, not time spent in this process (a slow loader, a GIL held elsewhere).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from redis.backoff import AbstractBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from valkey_redis.breaker import CircuitBreaker
from valkey_redis.core.guard import (
    CALL_DEADLINE,
    Exchange,
    Tries,
    block_seconds,
    open_budget,
)

__all__ = ["CALL_DEADLINE", "BudgetRetry", "block_seconds", "guarded", "per_server"]

T = TypeVar("T")

_NETWORK = (RedisConnectionError, RedisTimeoutError, OSError)
_MAKING = threading.Lock()  # guarded() classes are made once
_GUARDED: dict[type[Any], type[Any]] = {}


class BudgetRetry(Retry):
    """Retry with backoff inside a total budget; never retry an open circuit.

    Args:
        backoff: redis-py backoff between attempts.
        retries: attempts after the first.
        budget: seconds one call may spend, every attempt and pause included.
        supported_errors: the errors worth another attempt.
    """

    def __init__(
        self,
        backoff: AbstractBackoff,
        retries: int,
        *,
        budget: float,
        supported_errors: tuple[type[Exception], ...] = (RedisConnectionError, RedisTimeoutError),
    ) -> None:
        super().__init__(backoff, retries, supported_errors)
        self.budget = budget

    @property
    def errors(self) -> tuple[type[Exception], ...]:
        """The errors worth another attempt."""
        return tuple(self._supported_errors)

    def call_with_retry(
        self,
        do: Callable[[], T],
        fail: Callable[..., Any],
        is_retryable: Callable[[Exception], bool] | None = None,
        with_failure_count: bool = False,
    ) -> T:
        """Run ``do`` like redis-py does, within the budget (shared when nested)."""
        token = open_budget(self.budget)
        try:
            return self.attempts(do, fail, is_retryable, with_failure_count)
        finally:
            CALL_DEADLINE.reset(token)

    def attempts(
        self,
        do: Callable[[], T],
        fail: Callable[..., Any],
        is_retryable: Callable[[Exception], bool] | None = None,
        with_failure_count: bool = False,
        *,
        failed: Exception | None = None,
    ) -> T:
        """The attempts of one call inside the current budget; ``failed``: the first one's error.

        A caller that made the first attempt itself (the lean path,
        :func:`valkey_redis._lean.command`) hands its error in.
        """
        tries = None
        while True:
            if failed is None:
                try:
                    return do()
                except self._supported_errors as error:
                    failed = error
            tries = tries or Tries(self, is_retryable, with_failure_count)
            if (told := tries.failed(failed)) is None:
                raise failed
            fail(*told)
            if (pause := tries.pause()) is None:
                raise failed
            time.sleep(pause)
            failed = None


class _Guard(Exchange):
    """Mixed in front of a redis-py connection class; see :func:`guarded`."""

    socket_timeout: float | None  # the mixed-in connection's
    next_health_check: float  # the mixed-in connection's

    def __init__(self, *args: Any, breaker: CircuitBreaker | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._start(breaker)  # None: the server's breaker (a class from per_server())

    def _connect(self) -> Any:
        breaker = self.breaker
        if not breaker.allow():
            raise breaker.open_error()
        try:
            sock = super()._connect()  # type: ignore[misc]  # the mixed-in base has it
        except OSError as exc:  # socket.timeout is an OSError
            breaker.record_failure(exc)
            raise
        interval = getattr(self, "health_check_interval", 0)
        if interval:  # a connection made this instant needs no PING before its handshake
            self.next_health_check = time.monotonic() + interval
        return sock

    def send_command(self, *args: Any, **kwargs: Any) -> None:
        self._command(args)
        super().send_command(*args, **kwargs)  # type: ignore[misc]

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        self._may_send()
        try:
            super().send_packed_command(command, check_health)  # type: ignore[misc]
        except _NETWORK as exc:
            self.breaker.record_failure(exc)
            raise
        self._sent()

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        timeout = self.socket_timeout
        wait = self._reading(timeout)
        if wait != timeout and "timeout" not in kwargs:  # a block time, or the call's deadline
            kwargs["timeout"] = wait
        try:
            reply = super().read_response(*args, **kwargs)  # type: ignore[misc]
        except _NETWORK as exc:
            self._lost(exc)
            raise
        self._replied()
        return reply

    def disconnect(self, *args: Any, **kwargs: Any) -> None:
        self._forget()
        super().disconnect(*args, **kwargs)  # type: ignore[misc]


def per_server(base: type[Any]) -> type[Any]:
    """Return a new guarded ``base`` whose connections share one breaker per server.

    For clients that talk to several servers through one set of options (a
    cluster client makes a pool per node): each ``host:port`` gets its own
    breaker, kept in the new class's ``registry``.
    """
    return type(f"PerServer{base.__name__}", (guarded(base),), {"registry": {}})


def guarded(base: type[T]) -> type[T]:
    """Return ``base`` (a redis-py connection class) with the breaker and budget mixed in.

    The new class takes one more keyword argument, ``breaker``. Made once per base.
    """
    with _MAKING:
        made = _GUARDED.get(base)
        if made is None:
            made = _GUARDED[base] = type(f"Guarded{base.__name__}", (_Guard, base), {})
    return made
