"""The lean path of one command on an ``aio.connect()`` client: the same reply, less on the way.

Use this (:func:`command`) wherever an async helper sends one command, and
:func:`take` / :func:`give_back` where it needs one connection for a moment: a
cache hit is one ``GET``, and redis.asyncio's ``execute_command`` spends about as
much client time around that round trip as the round trip itself.

How it works: on a client of :func:`valkey_redis.aio.connect` (its budgeted
retry, a plain connection pool, no single connection, ``execute_command`` not
overridden, redis-py's OpenTelemetry metrics off) a command is written and its
reply parsed on a connection of the pool, skipping the per-call layers of
``execute_command`` and of the pool's checkout (a tenth of a hit's time). The pool lends one of its
connections to a *lane*: whichever command finds the lane free uses it (checked
like the pool checks a connection it hands out), the others check a connection
out of the pool as usual. The lane's connection counts as in use and
``client.aclose()`` closes it with the others; a pool smaller than
redis.asyncio's default of 100 connections lends none, so where connections
are few they all stay available to every user of the client. Any other client
is simply awaited as usual.

Not for: pipelines, transactions, pub/sub or blocking reads (their own paths in
redis.asyncio), cluster clients (routing), pools of other classes (Sentinel's).

How it fails: as ``execute_command``. Only a failed first attempt enters the
retry loop, which then makes the attempts and pauses ``execute_command`` would
have made, in what is left of the call's budget. A command interrupted after
it was written (cancelled, timed out) drops its connection, lane or not, so a
late reply never answers another command.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Awaitable
from typing import Any, cast

import redis.asyncio
from redis.asyncio.observability import recorder

from valkey_redis.aio._guard import AsyncBudgetRetry
from valkey_redis.core.guard import CALL_DEADLINE, open_budget

__all__ = ["command", "give_back", "take"]

_EXECUTE = redis.asyncio.Redis.execute_command
# Only a pool of at least redis.asyncio's default size (100) lends a connection to the
# lane: where a user made the pool smaller, every connection stays in the pool.
_LANE_FROM = 100
_LENDING = (redis.asyncio.ConnectionPool, redis.asyncio.BlockingConnectionPool)


class _Lane:
    """The connection a pool lends to whichever command finds it free."""

    __slots__ = ("busy", "conn")

    def __init__(self) -> None:
        self.busy = False
        self.conn: Any = None


_LANES: weakref.WeakKeyDictionary[Any, _Lane] = weakref.WeakKeyDictionary()


def command(client: Any, *args: Any, **options: Any) -> Awaitable[Any]:
    """``client.execute_command(*args, **options)``: the same reply, errors and retries."""
    pool = getattr(client, "connection_pool", None)
    retry = None if pool is None else pool.connection_kwargs.get("retry")
    if (
        type(retry) is not AsyncBudgetRetry
        or type(client).execute_command is not _EXECUTE
        or "execute_command" in client.__dict__  # patched on the instance (a test's fake)
        or client.single_connection_client
        or recorder._get_or_create_collector() is not None  # metrics on: their path
    ):
        return cast(Awaitable[Any], client.execute_command(*args, **options))
    return _lean(client, pool, retry, args, options)


async def take(pool: Any) -> Any:
    """A connected connection of ``pool`` for one command: the lane's when it is free."""
    lane = _lane(pool)
    if lane is None or lane.busy:
        return await pool.get_connection()
    lane.busy = True
    try:
        if lane.conn is None:
            lane.conn = await pool.get_connection()
        else:
            await pool.ensure_connection(lane.conn)  # reconnected if dropped, refused if dirty
    except BaseException:
        lane.busy = False
        raise
    return lane.conn


def give_back(pool: Any, conn: Any) -> Awaitable[None] | None:
    """Return ``conn`` (from :func:`take`); an awaitable when the pool takes it back."""
    lane = _LANES.get(pool)
    if lane is not None and lane.conn is conn:
        lane.busy = False
        return None
    return cast(Awaitable[None], pool.release(conn))


def _lane(pool: Any) -> _Lane | None:
    if type(pool) not in _LENDING or pool.max_connections < _LANE_FROM:
        return None  # a pool with few connections keeps them all for its other users
    lane = _LANES.get(pool)
    if lane is None:
        lane = _LANES[pool] = _Lane()
    return lane


async def _lean(
    client: Any, pool: Any, retry: AsyncBudgetRetry, args: tuple[Any, ...], options: Any
) -> Any:
    started = time.monotonic()
    conn = await take(pool)
    try:
        try:
            return await _attempt(client, conn, args, options)
        except retry.errors as error:
            # redis-py's retry loop from its second attempt on, in what is left of the budget.
            token = open_budget(retry.budget - (time.monotonic() - started))
            try:
                return await retry.attempts(
                    lambda: _attempt(client, conn, args, options),
                    lambda error, count: conn.disconnect(error=error, failure_count=count),
                    with_failure_count=True,
                    failed=error,
                )
            finally:
                CALL_DEADLINE.reset(token)
    finally:
        if (returning := give_back(pool, conn)) is not None:
            await returning


async def _attempt(client: Any, conn: Any, args: tuple[Any, ...], options: Any) -> Any:
    """One attempt, as redis-py's ``_send_command_parse_response`` makes it."""
    await conn.send_packed_command(conn.pack_command(*args))
    return await client.parse_response(conn, args[0], **options)
