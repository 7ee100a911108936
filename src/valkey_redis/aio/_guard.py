"""The circuit breaker and the call budget on redis.asyncio connections (``aio.connect()``).

Use this through :func:`valkey_redis.aio.connect`: it is the asyncio twin of
:mod:`valkey_redis._guard`, attaching the same I/O-free
:class:`~valkey_redis.breaker.CircuitBreaker`. Every socket connect and command
first asks the breaker (an open circuit raises
:class:`~valkey_redis.breaker.CircuitOpenError` at once); every reply or network
error is reported to it; blocking commands wait their block time on top of the
socket timeout and never count as slow. :class:`AsyncBudgetRetry` never retries
an open circuit and starts no attempt after the call's budget is spent; inside
that budget every reply is awaited at most until the deadline.

Not for: cluster clients' retries: ``aio.connect(cluster=True)`` gives each node
its own breaker (:func:`aper_server`) but keeps redis-py's cluster retries,
without the call budget, as the sync face.

How it fails: as the sync guard. A cancelled command is not a failure of the
server: it is not counted (the connection is dropped by redis-py, so its late
reply is never read as another command's).
"""

from __future__ import annotations

import asyncio
import codecs
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import hiredis
import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import AbstractBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from valkey_redis.aio._watch import watch
from valkey_redis.breaker import CircuitBreaker
from valkey_redis.core.guard import CALL_DEADLINE, Exchange, Tries, open_budget

__all__ = ["AsyncBudgetRetry", "aguarded", "aper_server"]

T = TypeVar("T")
_NETWORK = (RedisConnectionError, RedisTimeoutError, OSError)
_PLAIN_READ = frozenset({"disable_decoding"})  # the options of every command's reply
_SEND = redis.asyncio.Connection.send_packed_command


class AsyncBudgetRetry(Retry):
    """redis.asyncio's retry within a total budget; never retries an open circuit.

    Args:
        backoff: the pause between attempts.
        retries: attempts after the first.
        budget: seconds one call may spend, every attempt and pause included.
    """

    def __init__(self, backoff: AbstractBackoff, retries: int, *, budget: float) -> None:
        super().__init__(backoff, retries, (RedisConnectionError, RedisTimeoutError))
        self.budget = budget

    @property
    def errors(self) -> tuple[type[Exception], ...]:
        """The errors worth another attempt."""
        return tuple(self._supported_errors)

    async def call_with_retry(
        self,
        do: Callable[[], Awaitable[T]],
        fail: Callable[..., Any],
        is_retryable: Callable[[Exception], bool] | None = None,
        with_failure_count: bool = False,
    ) -> T:
        """Run ``do`` like redis-py does, within the budget (shared when nested)."""
        token = open_budget(self.budget)
        try:
            return await self.attempts(do, fail, is_retryable, with_failure_count)
        finally:
            CALL_DEADLINE.reset(token)

    async def attempts(
        self,
        do: Callable[[], Awaitable[T]],
        fail: Callable[..., Any],
        is_retryable: Callable[[Exception], bool] | None = None,
        with_failure_count: bool = False,
        *,
        failed: Exception | None = None,
    ) -> T:
        """The attempts of one call inside the current budget; ``failed``: the first one's error.

        A caller that made the first attempt itself (the runner's lean path, see
        :func:`valkey_redis.aio._lean.command`) hands its error in: the attempts
        and pauses that follow are the ones ``call_with_retry`` would have made.
        """
        tries = None
        while True:
            if failed is None:
                try:
                    return await do()
                except self._supported_errors as error:
                    failed = error
            tries = tries or Tries(self, is_retryable, with_failure_count)
            if (told := tries.failed(failed)) is None:
                raise failed
            await fail(*told)
            pause = tries.pause()
            if pause is None:
                raise failed
            await asyncio.sleep(pause)
            failed = None


class _AsyncGuard(Exchange):
    """Mixed in front of a redis.asyncio connection class; see :func:`aguarded`."""

    socket_timeout: float | None  # the mixed-in connection's
    _writer: asyncio.StreamWriter | None  # the mixed-in connection's
    _host_error: Callable[[], str]  # the mixed-in connection's
    _direct_write = False  # set by aguarded(): the base sends as redis.asyncio does
    _read_response_from_parser: Callable[..., Awaitable[Any]]  # the mixed-in connection's
    health_check_interval: float  # the mixed-in connection's
    next_health_check: float  # the mixed-in connection's
    is_connected: bool  # the mixed-in connection's (a property)
    check_health: Callable[[], Awaitable[None]]  # the mixed-in connection's

    def __init__(self, *args: Any, breaker: CircuitBreaker | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._start(breaker)  # None: the server's breaker (a class from aper_server())
        encoder: Any = getattr(self, "encoder", None)  # the mixed-in connection's
        self._packs_in_c = encoder is not None and (
            codecs.lookup(encoder.encoding).name,
            encoder.encoding_errors,
        ) == ("utf-8", "strict")

    async def connect(self) -> None:
        # redis.asyncio calls this before every command; connected, its retry wrapper
        # (a budget, a lambda, two coroutines) would only find nothing to do.
        if not self.is_connected:
            await super().connect()  # type: ignore[misc]

    def connect_check_health(self, *args: Any, **kwargs: Any) -> Awaitable[None]:
        # Asked here, not in _connect: redis.asyncio wraps _connect's errors in a
        # plain ConnectionError, which its retry would then retry. Not a coroutine
        # itself (redis.asyncio calls this before every command): the base's is awaited.
        if not self.is_connected and not self.breaker.allow():
            raise self.breaker.open_error()
        return super().connect_check_health(*args, **kwargs)  # type: ignore[misc, no-any-return]

    async def _connect(self) -> Any:
        try:
            return await super()._connect()  # type: ignore[misc]  # the mixed-in base has it
        except OSError as exc:  # asyncio's TimeoutError is an OSError subclass too
            self.breaker.record_failure(exc)
            raise

    def pack_command(self, *args: Any) -> Any:
        # Hooked here, not in send_command: one coroutine frame less on every command.
        self._command(args)
        name = args[0] if args else None
        if self._packs_in_c and type(name) is str and " " not in name:
            # hiredis packs as redis-py's sync connections do, several times faster than
            # redis.asyncio's Python packer; the same bytes for str, bytes, int and float.
            try:
                return [hiredis.pack_command(args)]
            except TypeError:
                pass  # a type redis-py converts or refuses with its own error (DataError)
        return super().pack_command(*args)  # type: ignore[misc]

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        """redis.asyncio's send, its write bounded by ``asyncio.timeout``, not ``wait_for``.

        ``wait_for`` runs the write in a new Task on Python 3.11 (microseconds on
        every command); ``asyncio.timeout`` bounds it in place, and only when the
        write can wait at all: a command that fits in the transport's buffer is
        handed to the socket without waiting. The outcome on expiry is
        redis.asyncio's: the connection is dropped, ``TimeoutError`` raised.
        """
        self._may_send()
        timeout = self.socket_timeout
        try:
            if not self.is_connected:  # the handshake and the PING keep the socket timeout
                await self.connect_check_health(check_health=False)
            if check_health:
                await self.check_health()
            if self._direct_write and not self._write_may_wait(command):
                await self._write(command)  # into the transport's buffer: nothing to wait for
            else:
                self.socket_timeout = None  # redis.asyncio then writes without wait_for
                try:
                    async with asyncio.timeout(timeout or None):
                        await super().send_packed_command(command, False)  # type: ignore[misc]
                except TimeoutError:  # ours: redis.asyncio turns its own into RedisTimeoutError
                    msg = "Timeout writing to socket"
                    raise RedisTimeoutError(msg) from None
                finally:
                    self.socket_timeout = timeout
        except _NETWORK as exc:
            self.breaker.record_failure(exc)
            raise
        self._sent()

    async def _write(self, command: list[bytes] | bytes) -> None:
        """Hand ``command`` to the socket, as redis.asyncio does (errors and all)."""
        writer: Any = self._writer
        try:
            writer.writelines([command] if isinstance(command, bytes) else command)
            await writer.drain()
        except OSError as exc:
            await self.disconnect(nowait=True)
            number = exc.args[0] if len(exc.args) > 1 else "UNKNOWN"
            text = exc.args[-1] if exc.args else exc
            msg = f"Error {number} while writing to socket. {text}."
            raise RedisConnectionError(msg) from exc
        except BaseException:
            await self.disconnect(nowait=True)
            raise

    def _write_may_wait(self, command: Any) -> bool:
        """Could writing ``command`` wait (the transport's buffer full, or filled by it)?"""
        writer = self._writer
        if writer is None or not isinstance(command, list | bytes):
            return True
        transport = writer.transport
        low, high = transport.get_write_buffer_limits()
        queued = transport.get_write_buffer_size()
        size = len(command) if isinstance(command, bytes) else sum(map(len, command))
        # Below the low-water mark the stream is not paused; past the high one it will be.
        return queued > low or queued + size > high

    async def read_response(self, *args: Any, **kwargs: Any) -> Any:
        """redis.asyncio's read, bounded by the loop's read watch (:mod:`valkey_redis.aio._watch`).

        A plain read (every command's reply) goes straight to the parser, with
        redis.asyncio's outcomes: a dropped connection on any error, its error
        types and messages, the health-check clock moved on. Reads with their own
        options (an explicit timeout: pub/sub polling) take redis.asyncio's path.
        """
        if args or kwargs.keys() - _PLAIN_READ:
            return await self._read_with_options(*args, **kwargs)
        wait = self._reading(self.socket_timeout)
        deadline = None
        if wait is not None:
            deadline = watch()
            deadline.start(self, wait)
        try:
            reply = await self._read_response_from_parser(**kwargs)
        except asyncio.CancelledError:
            await self.disconnect(nowait=True)  # its reply may still come: never read it
            if deadline is None or not deadline.expired(self):
                raise  # somebody cancelled the call: not a failure of the server
            error: Exception = RedisTimeoutError(f"Timeout reading from {self._host_error()}")
            self._lost(error)
            raise error from None
        except OSError as exc:
            await self.disconnect(nowait=True)
            error = RedisConnectionError(
                f"Error while reading from {self._host_error()} : {exc.args}"
            )
            self._lost(error)
            raise error from exc
        except BaseException as exc:
            await self.disconnect(nowait=True)
            if isinstance(exc, _NETWORK):
                self._lost(exc)
            raise
        finally:
            if deadline is not None:
                deadline.stop(self)
        if self.health_check_interval:
            self.next_health_check = asyncio.get_running_loop().time() + self.health_check_interval
        if isinstance(reply, ResponseError):
            raise reply from None
        self._replied()
        return reply

    async def _read_with_options(self, *args: Any, **kwargs: Any) -> Any:
        saved = self.socket_timeout
        wait = self._reading(saved)
        if kwargs.get("timeout") is None:
            self.socket_timeout = wait  # bounded like any reply; an explicit timeout is kept
        try:
            reply = await super().read_response(*args, **kwargs)  # type: ignore[misc]
        except _NETWORK as exc:
            self._lost(exc)
            raise
        finally:
            self.socket_timeout = saved
        self._replied()
        return reply

    async def disconnect(self, *args: Any, **kwargs: Any) -> None:
        self._forget()
        await super().disconnect(*args, **kwargs)  # type: ignore[misc]


_MADE: dict[type[Any], type[Any]] = {}


def aper_server(base: type[Any]) -> type[Any]:
    """Return a new guarded ``base`` whose connections share one breaker per server.

    For a cluster client (a pool per node): each ``host:port`` gets its own
    breaker, kept in the new class's ``registry`` (see ``breakers_of``).
    """
    return type(f"PerServer{base.__name__}", (aguarded(base),), {"registry": {}})


def aguarded(base: type[T]) -> type[T]:
    """Return ``base`` (a redis.asyncio connection class) with the breaker mixed in."""
    made = _MADE.get(base)
    if made is None:
        # A base that sends its own way (an instrumented subclass) keeps its send.
        direct = getattr(base, "send_packed_command", None) is _SEND
        made = _MADE[base] = type(
            f"Guarded{base.__name__}", (_AsyncGuard, base), {"_direct_write": direct}
        )
    return made
