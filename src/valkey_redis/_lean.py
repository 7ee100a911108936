"""The lean path of one command on a ``connect()`` client: the same reply, less on the way.

Use this (:func:`command`) wherever a sync helper sends one command, and
:func:`take` / :func:`give_back` where it needs one connection for a moment (the
at-most-once commands of :mod:`valkey_redis._once`). The asyncio twin is
:mod:`valkey_redis.aio._lean`.

How it works: on a client of :func:`valkey_redis.connect` (its budgeted retry, a
plain connection pool, no single connection, ``execute_command`` not overridden or patched,
redis-py's OpenTelemetry metrics off) a command is sent and its reply parsed on
a connection of the pool, without the per-call layers of ``execute_command``.
The pool lends one connection to a *lane* that whichever thread finds it free
uses, skipping the pool's lock and bookkeeping; it is checked as the pool checks
a connection it hands out (reconnected if the server closed it), and a forked
child never uses its parent's. Only a pool of at least 100 connections lends one
(redis-py's default is unbounded); ``client.close()`` closes it with the others.
Any other client is simply called as usual.

Not for: pipelines, transactions, pub/sub (their own paths in redis-py), cluster
clients (routing).

How it fails: as ``execute_command``. Only a failed first attempt enters the
retry loop, which then makes the attempts and pauses ``execute_command`` would
have made, in what is left of the call's budget.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from functools import partial
from typing import Any

import redis
from redis.exceptions import RedisError
from redis.observability import recorder

from valkey_redis._guard import BudgetRetry
from valkey_redis.core.guard import lean_retry, rest_of_budget

__all__ = ["command", "give_back", "take"]

_EXECUTE = redis.Redis.execute_command
_LANE_FROM = 100  # a smaller pool keeps all its connections for its other users


class _Lane:
    """The connection a pool lends to whichever thread finds it free."""

    __slots__ = ("conn", "lock", "pid")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.conn: Any = None
        self.pid = os.getpid()


_LANES: weakref.WeakKeyDictionary[Any, _Lane] = weakref.WeakKeyDictionary()
_LANES_LOCK = threading.Lock()


def command(client: Any, *args: Any, **options: Any) -> Any:
    """``client.execute_command(*args, **options)``: the same reply, errors and retries."""
    retry = lean_retry(client, BudgetRetry, _EXECUTE, recorder._get_or_create_collector)
    if retry is None:
        return client.execute_command(*args, **options)
    started, pool = time.monotonic(), client.connection_pool
    conn, lane = take(pool)
    try:
        return _attempt(client, conn, args, options)
    except retry.errors as error:  # redis-py's retry loop from its second attempt on
        with rest_of_budget(retry, started):
            again = partial(_attempt, client, conn, args, options)
            return retry.attempts(again, _dropper(conn), with_failure_count=True, failed=error)
    finally:
        give_back(pool, conn, lane)


def _dropper(conn: Any) -> Any:
    """redis-py's ``fail`` hook between attempts: drop the connection."""
    return lambda error, count: conn.disconnect(error=error, failure_count=count)


def take(pool: Any) -> tuple[Any, _Lane | None]:
    """A connected connection of ``pool``, and the lane it belongs to (None: the pool's)."""
    lane = _lane(pool)
    if lane is None or not lane.lock.acquire(blocking=False):
        return pool.get_connection(), None
    try:
        if lane.pid != os.getpid():  # forked: the parent's socket is not ours to use
            lane.conn, lane.pid = None, os.getpid()
        if lane.conn is None:
            lane.conn = pool.get_connection()  # checked out (and checked) by the pool
        else:
            conn = lane.conn
            conn.connect()  # no-op while connected
            try:
                dirty = conn.can_read()  # data nobody asked for
            except (RedisError, OSError):  # closed by the server
                dirty = True
            if dirty:
                conn.disconnect()
                conn.connect()
    except BaseException:
        lane.lock.release()
        raise
    return lane.conn, lane


def give_back(pool: Any, conn: Any, lane: _Lane | None) -> None:
    """Return ``conn`` (from :func:`take`) to its lane or to the pool."""
    if lane is None:
        pool.release(conn)
    else:
        lane.lock.release()


def _lane(pool: Any) -> _Lane | None:
    if type(pool) is not redis.ConnectionPool or pool.max_connections < _LANE_FROM:
        return None
    lane = _LANES.get(pool)
    if lane is None:
        with _LANES_LOCK:
            lane = _LANES.setdefault(pool, _Lane())
    return lane


def _attempt(client: Any, conn: Any, args: tuple[Any, ...], options: Any) -> Any:
    """One attempt, as redis-py's ``_send_command_parse_response`` makes it."""
    conn.send_command(*args, **options)
    return client.parse_response(conn, args[0], **options)
