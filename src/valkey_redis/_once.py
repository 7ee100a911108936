"""Send a command at most once: outside redis-py's retry loop, on a pooled connection.

Use this for a command that must not run twice (a rate-limit hit) or whose lost
reply must surface instead of being "answered" by a retry that sees a changed
server (an XREADGROUP whose entries were already delivered). Connecting and the
health-check PING still retry inside redis-py; once the command is written, a
network error is raised, never answered by re-sending.

Not for: ordinary commands; :func:`valkey_redis.connect`'s retries are what you
want for reads and idempotent writes.

The connection is the pool's lane when it is free (:mod:`valkey_redis._lean`).

How it fails: any error after the command was written disconnects that pooled
connection (a late reply must never be read as the answer to the next command)
and propagates; an error *reply* (``ResponseError``) keeps the connection, which
is still in step with the server.
"""

from __future__ import annotations

from typing import Any

import redis
from redis.cluster import RedisCluster
from redis.exceptions import ResponseError

from valkey_redis._lean import give_back, take

__all__ = ["node_for", "send_once"]


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
    conn, lane = take(pool)
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
        give_back(pool, conn, lane)
    return reply
