"""The decisions of the breaker-and-budget guard, written once for both connection faces.

Use this when you change how a connection consults its circuit breaker or how
a call's time budget bounds retries and replies: :mod:`valkey_redis._guard`
(blocking redis-py connections) and :mod:`valkey_redis.aio._guard`
(``redis.asyncio`` connections) only perform the I/O these objects decide on.

- :class:`Budget` gives a block of code one deadline (nested budgets share the
  earliest one), kept in the context variable :data:`CALL_DEADLINE` (per thread,
  per asyncio task).
- :class:`Tries` is redis-py's retry loop turned into answers: is this error
  worth another attempt, what to tell redis-py's ``fail`` hook, how long to
  pause (or give up because the attempts or the budget are spent).
- :class:`Exchange` is one connection's bookkeeping for its breaker: may a
  command be sent now, how long may its reply take, was it a success, a slow
  reply or a failure. Blocking commands (``BLPOP``, ``XREADGROUP BLOCK``,
  ``WAIT``...) wait their block time on top of the socket timeout and never
  count as slow (:func:`block_seconds`).

Not for: I/O. Nothing here sends, sleeps or touches an event loop; the clock is
read with ``time.monotonic`` (deadlines) and the breaker's own clock.

How it fails: a spent budget raises ``redis.exceptions.TimeoutError`` before
anything is sent; an open circuit raises
:class:`~valkey_redis.breaker.CircuitOpenError`, never retried (nothing was
sent, waiting would not help).
"""

from __future__ import annotations

import math
import threading
import time
from contextvars import ContextVar, Token
from typing import Any, ClassVar

from redis.exceptions import TimeoutError as RedisTimeoutError

from valkey_redis.breaker import CircuitBreaker, CircuitOpenError

__all__ = [
    "CALL_DEADLINE",
    "Budget",
    "Exchange",
    "Tries",
    "block_seconds",
    "lean_retry",
    "open_budget",
    "rest_of_budget",
]

#: The monotonic time by which the current call must be done; None outside a call.
CALL_DEADLINE: ContextVar[float | None] = ContextVar("valkey_redis_deadline", default=None)
# Blocking commands: where their block time is, and in which unit (ms or s).
_BLOCKING_LAST_S = frozenset({"BLPOP", "BRPOP", "BRPOPLPUSH", "BLMOVE", "BZPOPMIN", "BZPOPMAX"})
_BLOCKING_FIRST_S = frozenset({"BLMPOP", "BZMPOP"})
# Command names as redis-py's methods send them, known not to block (the hot path).
_PLAIN: set[Any] = set()
_REGISTRY_LOCK = threading.Lock()


def open_budget(seconds: float) -> Token[float | None]:
    """Start a budget of ``seconds`` (within any outer one); ``CALL_DEADLINE.reset`` ends it."""
    end = time.monotonic() + seconds
    outer = CALL_DEADLINE.get()
    return CALL_DEADLINE.set(end if outer is None or end < outer else outer)


class Budget:
    """``with Budget(seconds):`` bounds every network wait inside to ``seconds`` in total."""

    __slots__ = ("_seconds", "_token")

    def __init__(self, seconds: float) -> None:
        self._seconds = max(0.0, seconds)
        self._token: Token[float | None] | None = None

    def __enter__(self) -> None:
        self._token = open_budget(self._seconds)

    def __exit__(self, *exc_info: object) -> None:
        if self._token is not None:
            CALL_DEADLINE.reset(self._token)
            self._token = None


def lean_retry(client: Any, kind: type, execute: Any, metrics: Any) -> Any:
    """The budgeted retry of ``client`` if a command may skip ``execute_command``, else None.

    Both faces' lean paths (:mod:`valkey_redis._lean`, :mod:`valkey_redis.aio._lean`)
    ask this: only a client of ``connect()`` / ``aio.connect()`` (a retry of class
    ``kind``), whose ``execute_command`` is redis-py's own (``execute``) and not
    patched on the instance, with no single connection and redis-py's metrics off
    (``metrics()`` returns None) may take it.
    """
    pool = getattr(client, "connection_pool", None)
    retry = None if pool is None else pool.connection_kwargs.get("retry")
    if (
        type(retry) is not kind
        or type(client).execute_command is not execute
        or "execute_command" in client.__dict__  # patched on the instance (a test's fake)
        or client.connection is not None  # a single-connection client (sync)
        or getattr(client, "single_connection_client", False)  # one (asyncio)
        or metrics() is not None
    ):
        return None
    return retry


def rest_of_budget(retry: Any, started: float) -> Budget:
    """The budget left to a call that started at ``started`` (monotonic) under ``retry``."""
    return Budget(retry.budget - (time.monotonic() - started))


class Tries:
    """The retry decisions of one call: ``retry`` is a redis-py ``Retry`` (sync or async).

    Made at the call's first failure (a call that succeeds at once pays nothing).

    Args:
        retry: gives the backoff, the number of retries and the retryable errors.
        is_retryable: redis-py's extra filter, or None.
        with_failure_count: hand the failure count to redis-py's ``fail`` hook.
    """

    __slots__ = ("_backoff", "_count", "_filter", "_retries", "failures")

    def __init__(self, retry: Any, is_retryable: Any, with_failure_count: bool) -> None:
        self._backoff: Any = retry._backoff  # untyped in redis-py
        self._backoff.reset()
        self._retries: int = retry._retries
        self._filter = is_retryable
        self._count = with_failure_count
        self.failures = 0

    def failed(self, error: Exception) -> tuple[Any, ...] | None:
        """Count ``error``; return the ``fail`` hook's arguments, or None: raise it now."""
        if isinstance(error, CircuitOpenError) or (self._filter and not self._filter(error)):
            return None
        self.failures += 1
        return (error, self.failures) if self._count else (error,)

    def pause(self) -> float | None:
        """Seconds to wait before the next attempt; None: give up (attempts or budget spent)."""
        pause = float(self._backoff.compute(self.failures))
        end = CALL_DEADLINE.get()
        if self.failures > self._retries or (end is not None and time.monotonic() + pause >= end):
            return None
        return pause


class Exchange:
    """One connection's round trips as its breaker sees them (mixed into both guards).

    Attributes:
        breaker: the server's breaker.
    """

    breaker: CircuitBreaker
    _sent_at: float | None
    _block: float | None
    _reading_since: float | None
    _reading_block: float | None

    #: Breakers by "host:port", for connection classes that serve several servers
    #: (a cluster client's nodes): each server gets its own, made on first use.
    registry: ClassVar[dict[str, CircuitBreaker] | None] = None

    def _start(self, breaker: CircuitBreaker | None) -> None:
        """Use ``breaker``, or (None) this connection's server's one from the registry."""
        self.breaker = breaker or self._breaker_of_server()
        self._sent_at = self._block = self._reading_since = self._reading_block = None

    def _breaker_of_server(self) -> CircuitBreaker:
        registry = type(self).registry
        if registry is None:
            msg = "a guarded connection needs breaker= (or a class made per server)"
            raise TypeError(msg)
        name = f"{getattr(self, 'host', '?')}:{getattr(self, 'port', '?')}"
        with _REGISTRY_LOCK:
            return registry.setdefault(name, CircuitBreaker(name))

    def _command(self, args: tuple[Any, ...]) -> None:
        """Note the command about to be sent (is it a blocking one?)."""
        try:
            plain = args[0] in _PLAIN
        except (IndexError, TypeError):  # no name, or one redis-py will refuse
            plain = False
        self._block = None if plain else block_seconds(args)

    def _may_send(self) -> None:
        """Raise instead of sending: the circuit is open, or the call's budget is spent."""
        breaker = self.breaker
        if not breaker.allow():
            raise breaker.open_error()
        end = CALL_DEADLINE.get()
        if end is not None and time.monotonic() >= end:
            msg = "the call's time budget is spent; not sending"
            raise RedisTimeoutError(msg)

    def _sent(self) -> None:
        if self._sent_at is None:
            self._sent_at = self.breaker.clock()

    def _reading(self, timeout: float | None) -> float | None:
        """A reply is awaited: how long it may take, given the socket ``timeout`` (None: forever).

        Also notes the command in flight, for :meth:`_lost` and :meth:`_replied`
        (redis-py may disconnect, forgetting it, before the error reaches the guard).
        """
        self._reading_since, block = self._sent_at, self._block
        self._reading_block = block
        if timeout is None or self._sent_at is None:
            return timeout
        if block is not None:
            return None if block == math.inf else block + timeout
        end = CALL_DEADLINE.get()
        if end is None:
            return timeout
        return max(0.001, min(timeout, end - time.monotonic()))

    def _lost(self, error: BaseException) -> None:
        """The reply did not come (a network error): a failure if a command was in flight."""
        self._sent_at = self._block = None
        if self._reading_since is not None:
            self.breaker.record_failure(error)

    def _replied(self) -> None:
        """A reply came: fast or slow, decided by the breaker (a blocking wait is never slow)."""
        started = self._reading_since
        if started is not None:
            self._sent_at = self._block = None
            # A blocking command's wait was the point: only a plain reply can be slow.
            slow_from = started if self._reading_block is None else self.breaker.clock()
            self.breaker.record_success(slow_from)

    def _forget(self) -> None:
        self._sent_at = self._block = None


def _text(arg: object) -> str:
    return arg.decode(errors="replace") if isinstance(arg, bytes) else str(arg)


def block_seconds(args: tuple[Any, ...]) -> float | None:
    """Seconds a blocking command may wait on the server; None: not blocking; inf: forever."""
    name = _text(args[0]).upper() if args else ""
    try:
        if name in ("XREAD", "XREADGROUP"):
            upper = [_text(a).upper() for a in args]
            raw, scale = (args[upper.index("BLOCK") + 1], 1000) if "BLOCK" in upper else (None, 1)
        elif name in _BLOCKING_LAST_S or name in _BLOCKING_FIRST_S:
            raw, scale = (args[-1] if name in _BLOCKING_LAST_S else args[1]), 1
        elif name in ("WAIT", "WAITAOF"):
            raw, scale = args[-1], 1000
        else:
            if name and len(_PLAIN) < 512 and isinstance(args[0], str | bytes):
                _PLAIN.add(args[0])  # a name that never blocks: skip the parsing next time
            return None
        if raw is None:
            return None
        seconds = float(_text(raw)) / scale
    except (IndexError, TypeError, ValueError):
        return None
    return seconds if seconds > 0 else math.inf
