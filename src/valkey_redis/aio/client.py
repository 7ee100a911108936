"""Connect to Valkey from asyncio with the same URL rules and safe defaults as ``connect()``.

Use this in async code (FastAPI, Starlette, aiohttp): ``client = aio.connect()``
returns a ``redis.asyncio.Redis`` (or ``redis.asyncio.cluster.RedisCluster`` with
``cluster=True``) with ``decode_responses=True``, timeouts, retries with backoff
and health checks. It talks to nobody until the first awaited command.

Not for: sync code (:func:`valkey_redis.connect`), or hiding outages: after the
retries the error surfaces as ``redis.exceptions.ConnectionError`` /
``TimeoutError``.

How it fails: like :func:`valkey_redis.connect` (the same checks and options
come from :func:`valkey_redis.client.settings`), with two differences today: no
circuit breaker and no per-call budget (``call_timeout``) are installed on
asyncio clients -- bound a call with ``asyncio.timeout()`` instead, which is safe
(a cancelled command drops its connection). Close the client with
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

from valkey_redis.client import BACKOFF, settings

__all__ = ["connect"]


def connect(url: str | None = None, *, cluster: bool = False, **options: Any) -> Any:
    """Create an asyncio client for Valkey; no network traffic happens here.

    The arguments (and their defaults: 0.3 s socket timeouts on a single server, 2 s
    on a cluster, 3 retries with backoff) are those of :func:`valkey_redis.connect`.
    Bound a whole call with ``asyncio.timeout()``: cancelling a command drops its
    connection, so the pool stays in step.

    Returns:
        A ``redis.asyncio.Redis`` (or ``RedisCluster``) with ``decode_responses=True``.

    Raises:
        ValueError: for a negative timeout or retry count, or a URL without a
            ``redis://``, ``rediss://``, ``unix://`` or ``redis+sentinel://`` scheme.
    """
    target, kwargs = settings(url, retry=_retry, cluster=cluster, **options)
    if cluster:
        return RedisCluster.from_url(target, **kwargs)
    if target.startswith("redis+sentinel://"):  # the primary, found (and followed) via Sentinel
        from redis.asyncio.sentinel import Sentinel  # noqa: PLC0415 - optional path

        from valkey_redis.sentinel import parse_sentinel_url  # noqa: PLC0415

        sentinels, service, db, auth = parse_sentinel_url(target)
        asking = {k: v for k, v in kwargs.items() if k.startswith("socket_")}
        factory: Any = Sentinel  # untyped in redis-py
        manager = factory(sentinels, sentinel_kwargs={**asking, "decode_responses": True})
        primary: redis.asyncio.Redis = manager.master_for(service, db=db, **auth, **kwargs)
        return primary
    return redis.asyncio.Redis.from_url(target, **kwargs)


def _retry(retries: int) -> Retry:
    errors = (RedisConnectionError, RedisTimeoutError)
    return Retry(ExponentialWithJitterBackoff(**BACKOFF), retries, supported_errors=errors)
