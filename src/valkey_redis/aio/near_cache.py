"""A near cache for asyncio: hot values kept in this process, dropped when Valkey says so.

Use this in async code (FastAPI, Starlette, aiohttp) when a few keys are read far
more often than they are written: ``near = aio.NearCache(aio.connect(),
namespace="motd")``, then ``await near.get(key)`` -- a hit is a dictionary lookup,
no round trip. Valkey keeps the copies fresh with ``CLIENT TRACKING`` (redis-py
has no client-side caching in asyncio, and refuses its own on Valkey): every
write of a tracked key by any client -- a sync :class:`valkey_redis.NearCache`,
another async one, ``valkey-cli`` -- an expiry, an eviction or a ``FLUSHALL``
sends an invalidation and the copy is dropped. Keys and values are those of
:class:`valkey_redis.NearCache` (plain strings under ``<namespace>:``), so both
faces share data.

Not for: values you must read-your-writes from *another* process at every
instant (a copy lives until its invalidation arrives, normally well under a
millisecond), Valkey Cluster (tracking is per node), fakeredis (no ``CLIENT
TRACKING``: the constructor raises ``TypeError``), sync clients, or clients
without ``decode_responses=True``.

How it works: as the sync face, with a task instead of a thread. One dedicated
connection (RESP2) turns on tracking in broadcast mode for the namespace's
prefix, redirected to itself, and subscribes to ``__redis__:invalidate``; a task
on the event loop reads it and PINGs it after ``ping_interval`` of silence.
Reads use the client's ordinary pool. The state and decisions (the LRU, the
reads in flight, the counters, the keys) live in :mod:`valkey_redis.core.near`,
shared with the sync face; this module only awaits.

How it fails: as :class:`valkey_redis.NearCache`. When the tracking connection
drops (restart, network, ``CLIENT KILL``, no reply to a PING), everything local
is flushed and nothing is cached until the next :meth:`NearCache.get` turns
tracking on again; if Valkey is down or hung, that call raises
``redis.exceptions.ConnectionError`` (or ``TimeoutError``) within the client's
socket timeout (the handshake is bounded), and at once with the circuit breaker
open. A read that an invalidation overtakes returns its value but does not keep
it. Cancellation-safe: a ``get`` cancelled during the handshake leaves no
half-set-up tracking (the connection is closed; the next ``get`` starts again),
and one cancelled during its ``GET`` keeps nothing. :meth:`NearCache.close`
cancels the reader task and closes the connection, in bounded time.
"""

from __future__ import annotations

import asyncio
import math
import time
import weakref
from typing import Any, Self, cast

import redis.asyncio
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from valkey_redis.aio.client import connect
from valkey_redis.core.near import NearCacheStats, NearCore
from valkey_redis.core.send import queued
from valkey_redis.core.tracking import Listener, tracking_commands, tracking_options

__all__ = ["NearCache", "NearCacheStats"]

CLOSE_WAIT = 5.0  # seconds close() waits for the reader task after cancelling it


class NearCache(NearCore):
    """:class:`valkey_redis.NearCache` for asyncio: same arguments, keys and values.

    Args:
        client: a ``redis.asyncio.Redis`` with ``decode_responses=True`` (as from
            :func:`valkey_redis.aio.connect`), or a URL to connect to (closed by
            :meth:`close`).
        namespace, max_entries, ping_interval: as for :class:`valkey_redis.NearCache`.

    Raises:
        TypeError: for a fakeredis, cluster or sync client.
        ValueError: for a bad setting or a client without ``decode_responses=True``.

    Nothing touches the network here; tracking starts with the first :meth:`get`.
    """

    _ACCEPTS = redis.asyncio.Redis
    _CONNECT = staticmethod(connect)
    _START_LOCK = asyncio.Lock  # one task at a time (re)starts tracking
    _client: redis.asyncio.Redis
    _task: asyncio.Task[None] | None = None

    async def get(self, key: str) -> str | None:
        """:meth:`valkey_redis.NearCache.get`, awaited: a hit sends nothing, a miss one pipeline.

        Raises:
            redis.exceptions.ConnectionError: on a miss, when Valkey cannot be reached.
        """
        name = self.key(key)
        started = time.monotonic()
        value = self._lookup(name, started)
        if value is not None:
            return value
        await self._ensure_tracking()
        read, commands = self._begin(name)
        reply = None
        try:  # cancelled or failed: the read is ended and nothing is kept
            replies = await queued(self._client, commands, transaction=False).execute()
            if self._before_store is not None:
                await self._before_store(name)
            reply = replies
        finally:
            self._settle(name, read, started, reply)
        return cast("str | None", reply[0])

    async def set(self, key: str, value: str, *, ttl: float) -> None:
        """Write ``value`` with a TTL (seconds) and drop the local copy; see the sync face.

        Raises:
            TypeError: for a value that is not a ``str`` (encode it yourself).
            ValueError: for a ``ttl`` that is not a positive, finite number.
        """
        name, px = self._written(key, value, ttl)
        await self._client.set(name, value, px=px)
        self._drop([name])

    async def delete(self, key: str) -> bool:
        """Delete ``key`` in Valkey and here; return True when it existed in Valkey."""
        name = self.key(key)
        existed = bool(await self._client.delete(name))
        self._drop([name])
        return existed

    async def close(self) -> None:
        """Stop tracking, drop every copy, and close the client if we created it.

        The reader task is cancelled and waited for at most ``CLOSE_WAIT`` seconds;
        the connection is closed without waiting for the server.
        """
        conn = self._detach()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait({task}, timeout=CLOSE_WAIT)
        if conn is not None:
            await conn.disconnect(nowait=True)
        if self._owns_client:
            await self._client.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # --- the tracking connection ----------------------------------------------------

    async def _ensure_tracking(self) -> None:
        if self._conn is not None:
            return
        async with self._start_lock:
            self._opening()
            if self._conn is not None:
                return
            conn, client_id = await self._open_tracking()
            # Nothing is awaited from here on: tracking is set up whole or not at all.
            if not self._attach(conn, client_id):  # close() ran during the handshake
                await conn.disconnect(nowait=True)
                self._opening()
            # The task holds this cache only weakly; a finalizer cancels it, so a
            # NearCache dropped without close() frees the task and the connection.
            task = asyncio.get_running_loop().create_task(
                _listen(Listener(self, conn), conn, self.ping_interval),
                name="near-cache-invalidations",
            )
            weakref.finalize(self, _cancel, task)
            self._task = task

    async def _open_tracking(self) -> tuple[Any, int]:
        pool = self._client.connection_pool
        options = tracking_options(pool.connection_kwargs, Retry(NoBackoff(), 0))
        conn: Any = pool.connection_class(**options)
        try:
            await conn.connect()
            await conn.send_command("CLIENT", "ID")
            client_id = int(await conn.read_response())
            commands = tracking_commands(client_id, self._prefix)
            for command in commands:
                await conn.send_command(*command)
            for _ in commands:
                await conn.read_response()
        except BaseException:  # cancelled too: no half-open tracking connection is left
            await conn.disconnect(nowait=True)
            raise
        return conn, client_id


def _cancel(task: asyncio.Task[None]) -> None:
    """Cancel ``task`` unless its loop is closed already (its tasks were cancelled then)."""
    if not task.get_loop().is_closed():
        task.cancel()


async def _listen(listener: Listener, conn: Any, ping_interval: float) -> None:
    """Read the tracking connection until it drops, the cache is gone or a PING goes unanswered."""
    try:
        while True:
            try:
                async with asyncio.timeout(ping_interval):  # the parser resumes a cut read
                    message = await conn.read_response(timeout=math.inf, disconnect_on_error=False)
            except TimeoutError:
                if not listener.silent():
                    return
                await conn.send_command("PING", check_health=False)
            else:
                if not listener.heard(message):
                    return
    except (RedisError, OSError):  # dropped, killed, or closed by close()
        return
    finally:  # cancelled too (close(), or the cache was collected)
        listener.ended()
        await conn.disconnect(nowait=True)
