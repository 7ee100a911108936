"""The connection pool of ``aio.connect()``: redis.asyncio's blocking pool, minus its toll.

Use this through :func:`valkey_redis.aio.connect` (single-server clients). It is a
``redis.asyncio.BlockingConnectionPool``: at most ``max_connections``
connections, and a task that finds all of them in use waits for one (at most
the call budget) instead of failing with ``MaxConnectionsError``. What it
changes is the common case: taking an idle connection and giving it back.
redis.asyncio does both under an ``asyncio.Condition`` with an
``asyncio.timeout()`` and metrics bookkeeping, several times the work of the
list operation itself -- with 100 tasks on 100 keys, the larger part of each
command's client time. Here, when a connection is idle and nobody is queued, it
is popped (and checked, as redis.asyncio checks it), and given back by pushing
it; an asyncio pool's lists need no lock (no ``await`` between the read and the
write).

Not for: threads (asyncio pools are per event loop, like redis.asyncio's).

How it fails: as redis.asyncio's pool. Whenever the quick path does not apply --
no idle connection (a new one is made, or the task queues), a task already
queued (it keeps its turn), redis-py's OpenTelemetry metrics on, a streaming
credential provider (its re-authentication listens to the pool's events) --
redis.asyncio's own code runs.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio
from redis.asyncio.observability import recorder

__all__ = ["TaskPool"]


class TaskPool(redis.asyncio.BlockingConnectionPool):
    """``BlockingConnectionPool`` with a lock-free take and give-back of idle connections."""

    def _quick(self) -> bool:
        """May this take or give-back skip redis.asyncio's condition and bookkeeping?"""
        return (
            not getattr(self._condition, "_waiters", True)  # nobody queued (unknown: no)
            and _collector() is None  # redis-py's metrics off
            and self.connection_kwargs.get("credential_provider") is None
        )

    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        """An idle connection, checked; otherwise redis.asyncio's wait for one."""
        idle = self._available_connections
        if args or kwargs or not idle or not self._quick():
            return await super().get_connection(*args, **kwargs)  # type: ignore[no-untyped-call]
        connection = idle.pop()
        self._in_use_connections.add(connection)
        try:
            await self.ensure_connection(connection)  # reconnected if dropped, refused if dirty
        except BaseException:
            await self.release(connection)
            raise
        return connection

    async def release(self, connection: Any) -> None:
        """Give ``connection`` back; redis.asyncio's release when a task waits for one."""
        if not self._quick():
            await super().release(connection)
            return
        try:
            self._in_use_connections.remove(connection)
        except KeyError:  # not one of ours: redis.asyncio's error
            await super().release(connection)
            return
        if connection.should_reconnect():
            await connection.disconnect()
        self._available_connections.append(connection)


_collector = recorder._get_or_create_collector
