"""Send a command at most once: outside redis-py's retry loop, on a pooled connection.

Use this for a command that must not run twice (a rate-limit hit) or whose lost
reply must surface instead of being "answered" by a retry that sees a changed
server (an XREADGROUP whose entries were already delivered). Connecting and the
health-check PING still retry inside redis-py; once the command is written, a
network error is raised, never answered by re-sending.

Not for: ordinary commands; :func:`valkey_redis.connect`'s retries are what you
want for reads and idempotent writes.

How it works: the pool lends one connection to a *lane* that whichever thread
finds it free uses (checked as the pool checks a connection it hands out:
reconnected if the server closed it); the others check a connection out of the
pool as usual. That skips the pool's lock and bookkeeping on every rate-limit
hit. Only a plain pool of at least 100 connections lends one (redis-py's default
is unbounded); a forked child never uses its parent's lane connection.

How it fails: any error after the command was written disconnects that pooled
connection (a late reply must never be read as the answer to the next command)
and propagates; an error *reply* (``ResponseError``) keeps the connection, which
is still in step with the server.
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import Any

import redis
from redis.cluster import RedisCluster
from redis.exceptions import RedisError, ResponseError

__all__ = ["node_for", "send_once"]

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


def node_for(client: redis.Redis | RedisCluster, key: str) -> redis.Redis:
    """The ``redis.Redis`` that serves ``key``: ``client`` itself, or its cluster node."""
    if not isinstance(client, RedisCluster):
        return client
    cluster: Any = client  # RedisCluster's routing methods are untyped
    node: redis.Redis = cluster.get_redis_connection(cluster.get_node_from_key(key))
    return node


def send_once(node: redis.Redis, *commands: tuple[Any, ...], **options: Any) -> Any:
    """Send ``commands`` in turn on one pooled connection of ``node``; return the last reply.

    Args:
        node: a ``redis.Redis`` (for a cluster: the node's client).
        *commands: each a tuple ``(name, *args)``.
        **options: passed to the reply parser (e.g. redis-py's ``NEVER_DECODE``).
    """
    pool = node.connection_pool
    conn, lane = _take(pool)
    parse: Any = node.parse_response
    try:
        reply: Any = None
        for command in commands:
            conn.send_command(*command)
            reply = parse(conn, str(command[0]), **options)
    except ResponseError:
        raise  # an error reply: the connection is still in step with the server
    except BaseException:
        conn.disconnect()  # a late reply must never be read as the answer to the next command
        raise
    finally:
        if lane is None:
            pool.release(conn)
        else:
            lane.lock.release()
    return reply


def _take(pool: Any) -> tuple[Any, _Lane | None]:
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


def _lane(pool: Any) -> _Lane | None:
    if type(pool) is not redis.ConnectionPool or pool.max_connections < _LANE_FROM:
        return None
    lane = _LANES.get(pool)
    if lane is None:
        with _LANES_LOCK:
            lane = _LANES.setdefault(pool, _Lane())
    return lane
