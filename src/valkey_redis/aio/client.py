"""Connect to Valkey from asyncio with the same URL rules and safe defaults as ``connect()``.

Use this in async code (FastAPI, Starlette, aiohttp): ``client = aio.connect()``
returns a ``redis.asyncio.Redis`` (or ``redis.asyncio.cluster.RedisCluster`` with
``cluster=True``) with ``decode_responses=True``, timeouts, retries with backoff
and health checks. It talks to nobody until the first awaited command.

Not for: sync code (:func:`valkey_redis.connect`), or hiding outages: after the
retries the error surfaces as ``redis.exceptions.ConnectionError`` /
``TimeoutError``.

How it fails: exactly like :func:`valkey_redis.connect` (the same checks and
options come from :func:`valkey_redis.client.settings`; the same circuit breaker
and per-call budget are attached by :mod:`valkey_redis.aio._guard`; a cluster
client gets a breaker per node and redis-py's cluster retries).
``asyncio.timeout()`` around a call bounds it further, safely (a cancelled
command drops its connection). Close the client with
``await client.aclose()`` when the application stops.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import Connection
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.maint_notifications import MaintNotificationsConfig

from valkey_redis.aio._guard import AsyncBudgetRetry, aguarded, aper_server
from valkey_redis.aio._pool import TaskPool
from valkey_redis.breaker import CircuitBreaker
from valkey_redis.client import BACKOFF, CALL_TIMEOUT, server_name, settings

#: Connections in a single-server client's pool unless ``max_connections`` says otherwise.
POOL_SIZE = 100

__all__ = ["connect"]


def connect(
    url: str | None = None,
    *,
    cluster: bool = False,
    breaker: CircuitBreaker | bool = True,
    **options: Any,
) -> Any:
    """Create an asyncio client for Valkey; no network traffic happens here.

    The arguments (and their defaults: 0.3 s socket timeouts and a 1 s budget per
    call on a single server, 2 s on a cluster, 3 retries with backoff, a circuit
    breaker per client -- ``breaker_of(client)`` -- or per cluster node --
    ``breakers_of(client)``) are those of :func:`valkey_redis.connect`. A
    single-server client's pool holds up to ``max_connections`` (default 100)
    connections; a task that finds all of them in use waits for one, at most the
    call budget, then gets ``redis.exceptions.ConnectionError("No connection
    available.")`` -- so a burst of thousands of tasks queues instead of failing.
    ``asyncio.timeout()`` bounds a call further:
    cancelling a command drops its connection, so the pool stays in step.

    Returns:
        A ``redis.asyncio.Redis`` (or ``RedisCluster``) with ``decode_responses=True``.

    Raises:
        ValueError: for a negative timeout or retry count, or a URL without a
            ``redis://``, ``rediss://``, ``unix://`` or ``redis+sentinel://`` scheme.
    """
    budget = None if cluster else options.get("call_timeout", CALL_TIMEOUT)
    target, kwargs = settings(
        url, retry=lambda count: _retry(count, budget), cluster=cluster, **options
    )
    if cluster:
        client = RedisCluster.from_url(target, **kwargs)
        if breaker is not False:  # one breaker per node, as connect(cluster=True)
            _per_node_breakers(client)
        return client
    if target.startswith("redis+sentinel://"):  # the primary, found (and followed) via Sentinel
        from redis.asyncio.sentinel import Sentinel  # noqa: PLC0415 - optional path

        from valkey_redis.sentinel import parse_sentinel_url  # noqa: PLC0415

        sentinels, service, db, auth = parse_sentinel_url(target)
        asking = {k: v for k, v in kwargs.items() if k.startswith("socket_")}
        factory: Any = Sentinel  # untyped in redis-py
        manager = factory(sentinels, sentinel_kwargs={**asking, "decode_responses": True})
        primary: redis.asyncio.Redis = manager.master_for(service, db=db, **auth, **kwargs)
        return primary
    # As the sync client: a new connection's handshake is HELLO alone.
    kwargs.setdefault("driver_info", None)
    kwargs.setdefault("maint_notifications_config", MaintNotificationsConfig(enabled=False))
    # A blocking pool: a task that finds every connection in use waits for one (for
    # at most the call budget) instead of failing at once with MaxConnectionsError.
    kwargs.setdefault("max_connections", POOL_SIZE)
    pool = TaskPool.from_url(target, timeout=budget, **kwargs)
    if breaker is not False:
        pool.connection_kwargs["breaker"] = (
            breaker if isinstance(breaker, CircuitBreaker) else CircuitBreaker(server_name(pool))
        )
        pool.connection_class = aguarded(pool.connection_class)
    return redis.asyncio.Redis.from_pool(pool)


def _per_node_breakers(client: RedisCluster) -> None:
    """Give every node's connections (known now or discovered later) its server's breaker.

    redis.asyncio's cluster client takes no connection class: the nodes it will
    discover copy the manager's ``connection_kwargs``, the startup nodes exist already.
    """
    manager: Any = client.nodes_manager  # untyped in redis-py
    made = aper_server(manager.connection_kwargs.get("connection_class", Connection))
    manager.connection_kwargs["connection_class"] = made
    for node in manager.startup_nodes.values():
        node.connection_class = made


def _retry(retries: int, budget: float | None) -> Retry:
    backoff = ExponentialWithJitterBackoff(**BACKOFF)
    if budget is None:  # cluster clients: redis-py's own
        errors = (RedisConnectionError, RedisTimeoutError)
        return Retry(backoff, retries, supported_errors=errors)
    return AsyncBudgetRetry(backoff, retries, budget=budget)
