"""Connect to Valkey with safe defaults: timeouts, retries with backoff, health checks.

Use this when you need a client: ``connect()`` reads ``VALKEY_URL``, then
``REDIS_URL``, then uses ``redis://localhost:6379/0``. It talks to nobody until
the first command, so an application starts while its cache is down.

Not for: hiding outages. Retries cover a blip (a dropped connection, a timeout)
with exponential backoff and jitter; after that the error surfaces as
``redis.exceptions.ConnectionError`` or ``TimeoutError`` for the caller (or a
helper's documented fallback) to handle.

How it fails: a retried command may run twice if the first attempt reached the
server and only the reply was lost. That is harmless for reads and idempotent
writes (GET, SET, DEL, EXPIRE); helpers whose writes are not idempotent (rate
limiters) do not rely on it.
"""

from __future__ import annotations

import os
from typing import Any, Literal, overload

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.cluster import RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

__all__ = ["DEFAULT_URL", "configured_url", "connect", "describe", "redacted"]

DEFAULT_URL = "redis://localhost:6379/0"

#: Client type returned by :func:`connect`.
Client = redis.Redis | RedisCluster


def configured_url(url: str | None = None) -> str:
    """Return the URL to use: the argument, ``VALKEY_URL``, ``REDIS_URL``, or the default."""
    return url or os.environ.get("VALKEY_URL") or os.environ.get("REDIS_URL") or DEFAULT_URL


def _retry(retries: int) -> Retry:
    return Retry(
        ExponentialWithJitterBackoff(base=0.05, cap=1.0),
        retries,
        supported_errors=(RedisConnectionError, RedisTimeoutError),
    )


@overload
def connect(
    url: str | None = None,
    *,
    cluster: Literal[False] = False,
    max_connections: int | None = None,
    socket_timeout: float = 2.0,
    socket_connect_timeout: float = 2.0,
    retries: int = 3,
    health_check_interval: int = 30,
    **kwargs: Any,
) -> redis.Redis: ...


@overload
def connect(
    url: str | None = None,
    *,
    cluster: Literal[True],
    max_connections: int | None = None,
    socket_timeout: float = 2.0,
    socket_connect_timeout: float = 2.0,
    retries: int = 3,
    health_check_interval: int = 30,
    **kwargs: Any,
) -> RedisCluster: ...


def connect(
    url: str | None = None,
    *,
    cluster: bool = False,
    max_connections: int | None = None,
    socket_timeout: float = 2.0,
    socket_connect_timeout: float = 2.0,
    retries: int = 3,
    health_check_interval: int = 30,
    **kwargs: Any,
) -> redis.Redis | RedisCluster:
    """Create a client for Valkey; no network traffic happens here.

    Args:
        url: ``redis://`` or ``rediss://`` URL, or
            ``redis+sentinel://host:port[,host:port...]/service[/db]`` for a client
            that asks Sentinel for the primary and follows it after a failover;
            defaults to ``VALKEY_URL``, ``REDIS_URL``, then ``redis://localhost:6379/0``.
        cluster: return a :class:`redis.cluster.RedisCluster` (URL of any node).
        max_connections: size of the connection pool (per node for a cluster).
        socket_timeout: seconds to wait for a reply before ``TimeoutError``.
        socket_connect_timeout: seconds to wait for a TCP connection.
        retries: attempts after the first on connection errors and timeouts,
            with exponential backoff and jitter (0 disables retrying).
        health_check_interval: seconds of idleness after which a pooled
            connection is PINGed before use.
        **kwargs: passed on to redis-py.

    Returns:
        A redis-py client with ``decode_responses=True``.

    Raises:
        ValueError: for a negative timeout or retry count, or a URL without a
            ``redis://``, ``rediss://``, ``unix://`` or ``redis+sentinel://`` scheme.
    """
    if socket_timeout <= 0 or socket_connect_timeout <= 0:
        msg = "timeouts must be positive numbers of seconds"
        raise ValueError(msg)
    if retries < 0:
        msg = "retries must be >= 0"
        raise ValueError(msg)
    options: dict[str, Any] = {
        "decode_responses": True,
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": socket_connect_timeout,
        "retry": _retry(retries),
        "health_check_interval": health_check_interval,
        **kwargs,
    }
    if max_connections is not None:
        options["max_connections"] = max_connections
    target = configured_url(url)
    if target.startswith("redis+sentinel://") and not cluster:
        from valkey_redis.sentinel import connect_sentinel  # noqa: PLC0415 - optional path

        return connect_sentinel(target, **options)  # follows the primary across failovers
    if not target.startswith(("redis://", "rediss://", "unix://")):
        msg = (
            f"{target!r} is not a Valkey URL: it must start with redis://, rediss://, "
            "unix:// or redis+sentinel:// (for example redis://localhost:6379/0); check "
            "VALKEY_URL / REDIS_URL"
        )
        raise ValueError(msg)
    if cluster:
        return RedisCluster.from_url(target, **options)
    return redis.Redis.from_url(target, **options)


def redacted(url: str) -> str:
    """Return ``url`` with any password replaced by ``***``."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user + ':' if user else ''}***@{host}"


def describe(client: redis.Redis | RedisCluster, url: str | None = None) -> str:
    """Return a one-line description of the server, e.g. ``Valkey 9.1.2 at redis://...``.

    Raises:
        redis.exceptions.ConnectionError: with a hint to start a server when
            nothing answers.
    """
    shown = redacted(configured_url(url))
    try:
        info: dict[str, Any] = client.info("server")
    except (RedisConnectionError, RedisTimeoutError) as exc:
        msg = f"no Valkey answers at {shown} ({exc}); start one with `make infra-up`"
        raise RedisConnectionError(msg) from exc
    if isinstance(client, RedisCluster):
        # RedisCluster.info returns {node_name: info} when asked of several nodes.
        first: Any = next(iter(info.values()), {})
        info = first if isinstance(first, dict) else info
    if "valkey_version" in info:
        product = f"Valkey {info['valkey_version']}"
    else:
        product = f"Redis {info.get('redis_version', '?')}"
    kind = "cluster " if isinstance(client, RedisCluster) else ""
    return f"{product} {kind}at {shown}"
