"""Connect to Valkey from asyncio with the same URL rules and safe defaults as ``connect()``.

Use this in async code (FastAPI, Starlette, aiohttp): ``client = aio.connect()``
returns a ``redis.asyncio.Redis`` (or ``redis.asyncio.cluster.RedisCluster`` with
``cluster=True``) with ``decode_responses=True``, timeouts, retries with backoff
and health checks. It talks to nobody until the first awaited command.

Not for: sync code (:func:`valkey_redis.connect`), or hiding outages: after the
retries the error surfaces as ``redis.exceptions.ConnectionError`` /
``TimeoutError``.

How it fails: exactly like :func:`valkey_redis.connect` (the same checks and
options come from :func:`valkey_redis.client.settings`, the same circuit breaker
is attached by :mod:`valkey_redis.aio._guard`); close the client with
``await client.aclose()`` when the application stops.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.maint_notifications import MaintNotificationsConfig

from valkey_redis.aio._guard import AsyncBudgetRetry, aguarded
from valkey_redis.breaker import CircuitBreaker
from valkey_redis.client import BACKOFF, CALL_TIMEOUT, server_name, settings

__all__ = ["connect"]


def connect(
    url: str | None = None,
    *,
    cluster: bool = False,
    max_connections: int | None = None,
    socket_timeout: float | None = None,
    socket_connect_timeout: float | None = None,
    retries: int = 3,
    health_check_interval: int = 30,
    call_timeout: float = CALL_TIMEOUT,
    breaker: CircuitBreaker | bool = True,
    **kwargs: Any,
) -> Any:
    """Create an asyncio client for Valkey; no network traffic happens here.

    The arguments are those of :func:`valkey_redis.connect` (the same defaults:
    0.3 s socket timeouts and a 1 s budget per call on a single server, with a
    circuit breaker -- ``breaker_of(client)``; 2 s timeouts and no breaker on a
    cluster). ``asyncio.timeout()`` around a call bounds it further: cancelling a
    command drops its connection, so the pool stays in step.

    Returns:
        A ``redis.asyncio.Redis`` (or ``RedisCluster``) with ``decode_responses=True``.

    Raises:
        ValueError: for a negative timeout or retry count, or a URL without a
            ``redis://``, ``rediss://`` or ``unix://`` scheme.
    """
    backoff = ExponentialWithJitterBackoff(**BACKOFF)
    target, options = settings(
        url,
        cluster=cluster,
        max_connections=max_connections,
        socket_timeout=socket_timeout,
        socket_connect_timeout=socket_connect_timeout,
        retries=retries,
        health_check_interval=health_check_interval,
        call_timeout=call_timeout,
        retry=lambda: (
            Retry(backoff, retries, supported_errors=(RedisConnectionError, RedisTimeoutError))
            if cluster
            else AsyncBudgetRetry(backoff, retries, budget=call_timeout)
        ),
        **kwargs,
    )
    if cluster:
        return RedisCluster.from_url(target, **options)
    # As the sync client: a new connection's handshake is HELLO alone.
    options.setdefault("driver_info", None)
    options.setdefault("maint_notifications_config", MaintNotificationsConfig(enabled=False))
    pool = redis.asyncio.ConnectionPool.from_url(target, **options)
    if breaker is not False:
        pool.connection_kwargs["breaker"] = (
            breaker if isinstance(breaker, CircuitBreaker) else CircuitBreaker(server_name(pool))
        )
        pool.connection_class = aguarded(pool.connection_class)
    return redis.asyncio.Redis.from_pool(pool)
