"""A near cache: hot values kept in this process, dropped the moment Valkey says they changed.

Use this when a few keys are read far more often than they are written and a
network round trip per read (tens of microseconds at best) is the cost that
matters: a local hit is a dictionary lookup. Valkey keeps the copies fresh with
``CLIENT TRACKING``: every write of a tracked key, by any client, an expiry, an
eviction or a ``FLUSHALL`` sends an invalidation message, and the copy is dropped.
In asyncio code use :class:`valkey_redis.aio.NearCache`: the same keys, values
and behaviour, with a task instead of a thread.

Not for: values you must read-your-writes from *another* process at every instant
(a copy lives until its invalidation arrives, normally well under a millisecond),
Valkey Cluster (tracking is per node; not supported), fakeredis (it has no
``CLIENT TRACKING``: the constructor raises ``TypeError``), or clients without
``decode_responses=True``.

How it works: one dedicated connection (RESP2) turns on tracking in broadcast
mode for the namespace's key prefix, redirected to itself, and subscribes to
``__redis__:invalidate``; a daemon thread reads it. Broadcast mode makes the
server announce every write under the prefix, whichever connection read the key,
so reads can use the ordinary connection pool and the only connection whose loss
matters is the one we watch. The price is a message for every write under the
prefix, read locally or not: keep the namespace narrow. The state and decisions
live in :mod:`valkey_redis.core.near`, shared with the async face.

How it fails: when the tracking connection drops (server restart, network,
``CLIENT KILL``, output-buffer limit, or no reply to a PING for two
``ping_interval``), everything local is flushed and nothing is cached until the
next :meth:`NearCache.get` turns tracking on again; if Valkey is down or hung,
that call raises ``redis.exceptions.ConnectionError`` (or ``TimeoutError``) like
a plain ``GET``, within the client's socket timeout: the tracking handshake is
bounded too, and with the circuit breaker open it fails at once. A read that an
invalidation overtakes (the key changed while the ``GET`` was on the wire) returns
its value but does not store it, so no stale copy survives the race.
"""

from __future__ import annotations

import threading
import time
import weakref
from typing import Any, Protocol, Self, cast

import redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from valkey_redis.client import connect
from valkey_redis.core.near import NearCacheStats, NearCore
from valkey_redis.core.send import queued
from valkey_redis.core.tracking import (
    CLIENT_NAME,
    INVALIDATE_CHANNEL,
    Listener,
    tracking_commands,
    tracking_options,
)

__all__ = ["CLIENT_NAME", "INVALIDATE_CHANNEL", "NearCache", "NearCacheStats"]


class _Connection(Protocol):
    """The typed slice of ``redis.connection.Connection`` used here (its methods are untyped)."""

    def connect(self) -> None: ...
    def send_command(self, *args: Any, **kwargs: Any) -> None: ...
    def read_response(self, *, timeout: float = ..., disconnect_on_error: bool = ...) -> Any: ...
    def disconnect(self) -> None: ...


class NearCache(NearCore):
    """An in-process LRU of string values in front of Valkey, kept fresh by CLIENT TRACKING.

    Args:
        client: a ``redis.Redis`` with ``decode_responses=True`` (as from
            :func:`valkey_redis.connect`), or a URL to connect to (closed by :meth:`close`).
        namespace: keys live under ``<namespace>:`` and only that prefix is tracked;
            None tracks every key of the database.
        max_entries: the most copies kept here; the least recently used go first.
        ping_interval: seconds of silence on the tracking connection before a PING
            checks it is still alive.

    Raises:
        TypeError: for a fakeredis, cluster or asyncio client.
        ValueError: for ``max_entries < 1``, a non-positive ``ping_interval``, or a
            client without ``decode_responses=True``.

    Nothing touches the network here; tracking starts with the first :meth:`get`.
    """

    _ACCEPTS = redis.Redis
    _CONNECT = staticmethod(connect)
    _START_LOCK = threading.Lock  # one thread at a time (re)starts tracking
    _client: redis.Redis
    _thread: threading.Thread | None = None

    def get(self, key: str) -> str | None:
        """Return the value of ``key``: the local copy, else a ``GET`` (then kept locally).

        Raises:
            redis.exceptions.ConnectionError: when Valkey cannot be reached on a miss.
        """
        name = self.key(key)
        started = time.monotonic()
        value = self._lookup(name, started)
        if value is not None:
            return value
        self._ensure_tracking()
        read, commands = self._begin(name)
        reply = None
        try:
            replies = queued(self._client, commands, transaction=False).execute()
            if self._before_store is not None:
                self._before_store(name)
            reply = replies
        finally:
            self._settle(name, read, started, reply)
        return cast("str | None", reply[0])

    def set(self, key: str, value: str, *, ttl: float) -> None:
        """Write ``value`` to Valkey with a TTL (seconds) and drop the local copy.

        The copy is not refreshed here: our own write comes back as an
        invalidation a moment later; the next :meth:`get` reads the new value.

        Raises:
            TypeError: for a value that is not a ``str`` (``get`` returns strings:
                ``set("k", 1)`` would read back as ``"1"``; encode it yourself).
            ValueError: for a ``ttl`` that is not a positive, finite number.
        """
        name, px = self._written(key, value, ttl)
        self._client.set(name, value, px=px)
        self._drop([name])

    def delete(self, key: str) -> bool:
        """Delete ``key`` in Valkey and here; return True when it existed in Valkey."""
        name = self.key(key)
        existed = bool(self._client.delete(name))
        self._drop([name])
        return existed

    def close(self) -> None:
        """Stop tracking, drop every copy, and close the client if we created it."""
        with self._start_lock:
            conn = self._detach()
            if conn is not None:
                conn.disconnect()  # wakes the listener thread, which then exits
            if self._thread is not None:
                self._thread.join(timeout=5)
            if self._owns_client:
                self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- the tracking connection ----------------------------------------------------

    def _ensure_tracking(self) -> None:
        if self._conn is not None:
            return
        with self._start_lock:
            self._opening()
            if self._conn is not None:
                return
            conn, client_id = self._open_tracking()
            # The thread holds this cache only weakly, and a finalizer closes the
            # connection: a NearCache dropped without close() frees both.
            thread = threading.Thread(
                target=_listen,
                args=(Listener(self, conn), conn, self.ping_interval),
                name="near-cache-invalidations",
                daemon=True,
            )
            self._attach(conn, client_id)
            weakref.finalize(self, conn.disconnect)
            thread.start()
            self._thread = thread

    def _open_tracking(self) -> tuple[_Connection, int]:
        pool = self._client.connection_pool
        options = tracking_options(pool.connection_kwargs, Retry(NoBackoff(), 0))
        conn = cast("_Connection", pool.connection_class(**options))
        try:
            conn.connect()
            conn.send_command("CLIENT", "ID")
            client_id = int(conn.read_response())
            commands = tracking_commands(client_id, self._prefix)
            for command in commands:
                conn.send_command(*command)
            for _ in commands:
                conn.read_response()
        except BaseException:
            conn.disconnect()
            raise
        return conn, client_id


def _listen(listener: Listener, conn: _Connection, ping_interval: float) -> None:
    """Read the tracking connection until it drops, the cache is gone or a PING goes unanswered."""
    try:
        while True:
            try:
                message = conn.read_response(timeout=ping_interval, disconnect_on_error=False)
            except RedisTimeoutError:
                if not listener.silent(lambda: conn.send_command("PING", check_health=False)):
                    return
            else:
                if not listener.heard(message):
                    return
    except (RedisError, OSError):  # dropped, killed, or closed by close()
        return
    finally:
        listener.ended()
        conn.disconnect()
