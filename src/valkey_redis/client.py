"""Connect to Valkey with safe defaults: timeouts, retries with backoff, health checks.

Use this when you need a client: ``connect()`` reads ``VALKEY_URL``, then
``REDIS_URL``, then uses ``redis://localhost:6379/0``. It talks to nobody until
the first command, so an application starts while its cache is down.

Not for: hiding outages. Retries cover a blip (a dropped connection, a timeout)
with exponential backoff and jitter; after that the error surfaces as
``redis.exceptions.ConnectionError`` or ``TimeoutError`` for the caller (or a
helper's documented fallback) to handle.

Time budgets, on by default (single server): a reply is awaited at most
``socket_timeout`` (0.3 s), and one call -- every retry, reconnect and handshake
command included -- at most ``call_timeout`` (1 s). A circuit breaker per client
(:mod:`valkey_redis.breaker`, shared by every helper built on the client) opens
after 3 failed attempts in a row or 5 slow replies; while it is open every
command raises :class:`~valkey_redis.breaker.CircuitOpenError` (a
``ConnectionError``) at once, and one probe per cool-down (1-8 s, jittered)
checks whether the server is back. ``breaker_of(client).snapshot()`` shows it.
Commands that block on purpose (``XREADGROUP BLOCK``, ``BLPOP``...) wait their
block time on top of the socket timeout.

How it fails: a retried command may run twice if the first attempt reached the
server and only the reply was lost. That is harmless for reads and idempotent
writes (GET, SET, DEL, EXPIRE); helpers whose writes are not idempotent do not
rely on it: they send once (rate-limit hits, lock releases, XREADGROUP) or make
the retry recognise itself (write-behind submits, cache deletes, session
destroys; see docs/failure-modes.md). A reply slower than ``socket_timeout`` is a
``TimeoutError``: raise the timeouts for commands that are slow on purpose (a
huge MGET, a long script). Cluster clients keep 2 s timeouts and redis-py's
cluster retries (no call budget), with one breaker per node (:func:`breakers_of`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Literal, cast, overload

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.cluster import RedisCluster
from redis.connection import Connection, SSLConnection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.maint_notifications import MaintNotificationsConfig
from redis.retry import Retry

from valkey_redis._guard import BudgetRetry, guarded, per_server
from valkey_redis._validate import count, seconds
from valkey_redis.breaker import CircuitBreaker

__all__ = [
    "BACKOFF",
    "DEFAULT_URL",
    "breaker_of",
    "configured_url",
    "connect",
    "describe",
    "redacted",
    "settings",
]

DEFAULT_URL = "redis://localhost:6379/0"

#: Client type returned by :func:`connect`.
Client = redis.Redis | RedisCluster


def configured_url(url: str | None = None) -> str:
    """Return the URL to use: the argument, ``VALKEY_URL``, ``REDIS_URL``, or the default."""
    return url or os.environ.get("VALKEY_URL") or os.environ.get("REDIS_URL") or DEFAULT_URL


#: Single-server defaults (seconds): wait for a reply, a TCP connect, one whole call.
SOCKET_TIMEOUT, CONNECT_TIMEOUT, CALL_TIMEOUT = 0.3, 0.3, 1.0
_CLUSTER_TIMEOUT = 2.0  # cluster clients: failovers take seconds


#: The backoff between retries: exponential from 50 ms, capped at 1 s, with jitter.
BACKOFF = {"base": 0.05, "cap": 1.0}


def _retry(retries: int, call_timeout: float | None) -> Retry:
    backoff = ExponentialWithJitterBackoff(**BACKOFF)
    if call_timeout is None:  # cluster clients: redis-py's own
        return Retry(backoff, retries, supported_errors=(RedisConnectionError, RedisTimeoutError))
    return BudgetRetry(backoff, retries, budget=call_timeout)


def breaker_of(client: object) -> CircuitBreaker | None:
    """Return the circuit breaker :func:`connect` put on ``client``; None if it has none.

    Example: ``breaker_of(client).snapshot().state`` for a ``/healthz`` page.
    """
    pool = getattr(client, "connection_pool", None)
    kwargs = getattr(pool, "connection_kwargs", None)
    found = kwargs.get("breaker") if isinstance(kwargs, dict) else None
    return found if isinstance(found, CircuitBreaker) else None


def breakers_of(client: object) -> dict[str, CircuitBreaker]:
    """Return every circuit breaker of ``client`` by server (``"host:port"``).

    One entry for a single-server client; one per node a cluster client has
    talked to; ``{}`` for a client :func:`connect` did not make.
    """
    single = breaker_of(client)
    if single is not None:
        return {single.name: single}
    manager = getattr(client, "nodes_manager", None)
    kind = getattr(manager, "connection_kwargs", {}).get("connection_class")
    registry = getattr(kind, "registry", None)
    return dict(registry) if isinstance(registry, dict) else {}


def server_name(pool: Any) -> str:
    """``host:port`` (or the socket path) of a connection pool's server, for its breaker."""
    kwargs = pool.connection_kwargs
    where = kwargs.get("path") or f"{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}"
    return str(where)


def _guarded_client(
    target: str, options: dict[str, Any], breaker: CircuitBreaker | bool
) -> redis.Redis:
    """A client whose connections report to one breaker (the retry holds the budget)."""
    # A new connection's handshake is HELLO alone: no CLIENT SETINFO, no
    # maintenance-notification handshake (Valkey ignores it), no PING before it.
    options.setdefault("driver_info", None)
    options.setdefault("maint_notifications_config", MaintNotificationsConfig(enabled=False))
    pool = redis.ConnectionPool.from_url(target, **options)
    name = server_name(pool)
    client = redis.Redis(connection_pool=pool)
    client.auto_close_connection_pool = True  # as from_url does: close() closes the pool
    return _guard(pool, breaker, name, client)


def _guard(
    pool: Any, breaker: CircuitBreaker | bool, name: str, client: redis.Redis
) -> redis.Redis:
    """Make ``pool``'s connections report to one breaker (unless ``breaker`` is False)."""
    if breaker is not False:
        kwargs = pool.connection_kwargs
        kwargs["breaker"] = breaker if isinstance(breaker, CircuitBreaker) else CircuitBreaker(name)
        pool.connection_class = guarded(pool.connection_class)
    return client


@overload
def connect(
    url: str | None = None,
    *,
    cluster: Literal[False] = False,
    max_connections: int | None = None,
    socket_timeout: float | None = None,
    socket_connect_timeout: float | None = None,
    retries: int = 3,
    health_check_interval: int = 30,
    call_timeout: float = CALL_TIMEOUT,
    breaker: CircuitBreaker | bool = True,
    **kwargs: Any,
) -> redis.Redis: ...


@overload
def connect(
    url: str | None = None,
    *,
    cluster: Literal[True],
    max_connections: int | None = None,
    socket_timeout: float | None = None,
    socket_connect_timeout: float | None = None,
    retries: int = 3,
    health_check_interval: int = 30,
    call_timeout: float = CALL_TIMEOUT,
    breaker: CircuitBreaker | bool = True,
    **kwargs: Any,
) -> RedisCluster: ...


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
) -> redis.Redis | RedisCluster:
    """Create a client for Valkey; no network traffic happens here.

    Args:
        url: ``redis://`` or ``rediss://`` URL, or
            ``redis+sentinel://host:port[,host:port...]/service[/db]`` for a client
            that asks Sentinel for the primary and follows it after a failover;
            defaults to ``VALKEY_URL``, ``REDIS_URL``, then ``redis://localhost:6379/0``.
        cluster: return a :class:`redis.cluster.RedisCluster` (URL of any node).
        max_connections: size of the connection pool (per node for a cluster).
        socket_timeout: seconds to wait for a reply before ``TimeoutError``
            (default 0.3; 2.0 for a cluster).
        socket_connect_timeout: seconds to wait for a TCP connection
            (default 0.3; 2.0 for a cluster).
        retries: attempts after the first on connection errors and timeouts,
            with exponential backoff and jitter (0 disables retrying).
        health_check_interval: seconds of idleness after which a pooled
            connection is PINGed before use.
        call_timeout: seconds one command (or pipeline) may take in total,
            retries and reconnects included (single server).
        breaker: True for a new :class:`~valkey_redis.breaker.CircuitBreaker`
            on this client, an existing one to share it, False for none
            (see :func:`breaker_of`); a cluster client gets one per node
            (see :func:`breakers_of`) unless False.
        **kwargs: passed on to redis-py.

    Returns:
        A redis-py client with ``decode_responses=True``.

    Raises:
        ValueError: for a timeout that is not a positive, finite number (zero,
            negative, NaN, inf), a negative retry count, or a URL without a ``redis://``,
            ``rediss://``, ``unix://`` or ``redis+sentinel://`` scheme.
    """
    target, options = settings(
        url,
        cluster=cluster,
        max_connections=max_connections,
        socket_timeout=socket_timeout,
        socket_connect_timeout=socket_connect_timeout,
        retries=retries,
        health_check_interval=health_check_interval,
        call_timeout=call_timeout,
        retry=lambda count: _retry(count, None if cluster else call_timeout),
        **kwargs,
    )
    if cluster:
        if breaker is not False:  # one breaker per node
            base = SSLConnection if target.startswith("rediss://") else Connection
            options.setdefault("connection_class", per_server(base))
        return RedisCluster.from_url(target, **options)
    if target.startswith("redis+sentinel://"):
        from valkey_redis.sentinel import connect_sentinel  # noqa: PLC0415 - optional path

        client = connect_sentinel(target, **options)  # follows the primary across failovers
        return _guard(
            client.connection_pool, breaker, f"sentinel:{target.rsplit('/', 2)[-2]}", client
        )
    return _guarded_client(target, options, breaker)


def settings(
    url: str | None,
    *,
    retry: Callable[[int], object],
    cluster: bool = False,
    max_connections: int | None = None,
    socket_timeout: float | None = None,
    socket_connect_timeout: float | None = None,
    retries: int = 3,
    health_check_interval: int = 30,
    call_timeout: float = CALL_TIMEOUT,
    **kwargs: Any,
) -> tuple[str, dict[str, Any]]:
    """Check :func:`connect`'s arguments; return the URL and the redis-py options.

    Shared by :func:`connect` and :func:`valkey_redis.aio.connect`, which differ in
    the client class and the ``retry`` they build from the retry count (sync or
    asyncio); the other arguments and their defaults are :func:`connect`'s.

    Raises:
        ValueError: as documented on :func:`connect`.
    """
    if socket_timeout is None:
        socket_timeout = _CLUSTER_TIMEOUT if cluster else SOCKET_TIMEOUT
    if socket_connect_timeout is None:
        socket_connect_timeout = _CLUSTER_TIMEOUT if cluster else CONNECT_TIMEOUT
    timeouts: dict[str, object] = {
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": socket_connect_timeout,
        "call_timeout": call_timeout,
    }
    for name, value in timeouts.items():
        seconds(name, value)  # NaN, inf, 0, negative or not a number: ValueError naming it
    count("retries", retries, minimum=0)
    if max_connections is not None:
        count("max_connections", max_connections)
    options: dict[str, Any] = {
        "decode_responses": True,
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": socket_connect_timeout,
        "retry": retry(retries),
        "health_check_interval": health_check_interval,
        **kwargs,
    }
    if max_connections is not None:
        options["max_connections"] = max_connections
    target = configured_url(url)
    sentinel = target.startswith("redis+sentinel://") and not cluster
    if not sentinel and not target.startswith(("redis://", "rediss://", "unix://")):
        msg = (
            f"{target!r} is not a Valkey URL: it must start with redis://, rediss://, "
            "unix:// or redis+sentinel:// (for example redis://localhost:6379/0); check "
            "VALKEY_URL / REDIS_URL"
        )
        raise ValueError(msg)
    return target, options


def redacted(url: str) -> str:
    """Return ``url`` with any password replaced by ``***``."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    creds, _, host = rest.rpartition("@")
    user = creds.split(":", 1)[0]
    return f"{scheme}://{user + ':' if user else ''}***@{host}"


def _address_of(client: redis.Redis | RedisCluster) -> str | None:
    """The URL a client talks to, from its pool (None when it cannot be told)."""
    if isinstance(client, RedisCluster):
        node: Any = cast(Any, client).get_default_node()
        return None if node is None else f"redis://{node.host}:{node.port}"
    pool: Any = getattr(client, "connection_pool", None)
    options: dict[str, Any] = getattr(pool, "connection_kwargs", {})
    if options.get("path"):
        return f"unix://{options['path']}"
    kind = getattr(pool, "connection_class", None)
    if "host" not in options or not isinstance(kind, type):
        return None  # a Sentinel pool asks its sentinels; nothing fixed to name
    scheme = "rediss" if issubclass(kind, SSLConnection) else "redis"
    return f"{scheme}://{options['host']}:{options.get('port', 6379)}/{options.get('db', 0)}"


def describe(client: redis.Redis | RedisCluster, url: str | None = None) -> str:
    """Return a one-line description of the server, e.g. ``Valkey 9.1.2 at redis://...``.

    Args:
        client: a client from :func:`connect` (or any redis-py client).
        url: the address to name; by default the one the client talks to.

    Raises:
        redis.exceptions.ConnectionError: with a hint to start a server when
            nothing answers.
    """
    shown = redacted(url or _address_of(client) or configured_url())
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
