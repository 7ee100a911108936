"""The lean path of one command on an ``aio.connect()`` client: the same reply, less on the way.

Use this (:func:`command`) wherever an async helper sends one command: a cache
hit is one ``GET``, and redis.asyncio's ``execute_command`` spends about as much
client time around that round trip as the round trip itself. The sync twin is
:mod:`valkey_redis._lean`.

How it works: on a client of :func:`valkey_redis.aio.connect` (its budgeted
retry, no single connection, ``execute_command`` not overridden or patched,
redis-py's OpenTelemetry metrics off) a command is written and its reply parsed
on a connection of the pool (:mod:`valkey_redis.aio._pool`, whose idle
connections are taken and given back without a lock), skipping the per-call
layers of ``execute_command``. Any other client is simply awaited as usual.

Not for: pipelines, transactions, pub/sub or blocking reads (their own paths in
redis.asyncio), cluster clients (routing).

How it fails: as ``execute_command``. Only a failed first attempt enters the
retry loop, which then makes the attempts and pauses ``execute_command`` would
have made, in what is left of the call's budget. A command interrupted after
it was written (cancelled, timed out) drops its connection, so a late reply
never answers another command.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable
from functools import partial
from typing import Any, cast

import redis.asyncio
from redis.asyncio.observability import recorder

from valkey_redis.aio._guard import AsyncBudgetRetry
from valkey_redis.core.guard import lean_retry, rest_of_budget

__all__ = ["command"]

_EXECUTE = redis.asyncio.Redis.execute_command


def command(client: Any, *args: Any, **options: Any) -> Awaitable[Any]:
    """``client.execute_command(*args, **options)``: the same reply, errors and retries."""
    retry = lean_retry(client, AsyncBudgetRetry, _EXECUTE, recorder._get_or_create_collector)
    if retry is None:
        return cast(Awaitable[Any], client.execute_command(*args, **options))
    return _lean(client, retry, args, options)


async def _lean(client: Any, retry: AsyncBudgetRetry, args: tuple[Any, ...], options: Any) -> Any:
    started, pool = time.monotonic(), client.connection_pool
    conn = await pool.get_connection()
    try:
        return await _attempt(client, conn, args, options)
    except retry.errors as error:  # redis-py's retry loop from its second attempt on
        with rest_of_budget(retry, started):
            return await retry.attempts(
                partial(_attempt, client, conn, args, options),
                lambda error, count: conn.disconnect(error=error, failure_count=count),
                with_failure_count=True,
                failed=error,
            )
    finally:
        await pool.release(conn)


async def _attempt(client: Any, conn: Any, args: tuple[Any, ...], options: Any) -> Any:
    """One attempt, as redis-py's ``_send_command_parse_response`` makes it."""
    await conn.send_packed_command(conn.pack_command(*args))
    return await client.parse_response(conn, args[0], **options)
