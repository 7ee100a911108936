"""What both runners agree on when they send a command: what an outage is, how far to follow.

Use this in a runner or a helper that must tell "the server is unreachable" (a
fallback may apply) from "the server said no" (an error reply, never a fallback),
and in the helpers' constructors, which refuse a client of the other face
(:func:`check_face`).

Not for: retry policy; that is the client's (:func:`valkey_redis.connect`).

How it fails: nothing here does I/O; :data:`OUTAGE` lists redis-py's exception
classes, which ``redis.asyncio`` raises too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from redis.exceptions import ClusterDownError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

__all__ = ["OUTAGE", "REDIRECTS", "check_face", "is_cluster", "queued", "redirect_error"]

#: The server unreachable, or a cluster without a primary for the slot (CLUSTERDOWN
#: during a failover; the command did not run).
OUTAGE = (RedisConnectionError, RedisTimeoutError, ClusterDownError)

#: MOVED/ASK replies mean the command did not run, so following them is safe.
REDIRECTS = 3


def redirect_error(key: str) -> ResponseError:
    """The error for a key the cluster kept redirecting."""
    return ResponseError(f"the cluster kept redirecting the key {key!r}")


def is_cluster(client: object) -> bool:
    """True for a sync or asyncio ``RedisCluster`` (keys must then be grouped by slot)."""
    from redis.asyncio.cluster import RedisCluster as AsyncCluster  # noqa: PLC0415 - lazy
    from redis.cluster import RedisCluster  # noqa: PLC0415 - lazy

    return isinstance(client, RedisCluster | AsyncCluster)


def check_face(client: object, helper: object) -> None:
    """Refuse a client of the other face: a sync client for an ``aio`` helper, or the reverse.

    ``helper`` is the helper being built; its class's ``_ASYNC`` says its face.
    Other objects (fakes, wrappers) pass: only the two faces' own classes are told apart.

    Raises:
        TypeError: naming the client to use instead.
    """
    kind = _FACE_OF.get(type(client))
    if kind is None:  # once per client class (constructors run per critical section)
        kind = _FACE_OF[type(client)] = _face_of(client)
    asynchronous = getattr(helper, "_ASYNC", False)
    if kind == ("sync" if asynchronous else "async"):
        name = type(helper).__name__
        if asynchronous:
            msg = f"aio.{name} needs an asyncio client (valkey_redis.aio.connect()), not a sync one"
        else:
            msg = f"{name} needs a sync client (connect()); for asyncio use valkey_redis.aio.{name}"
        raise TypeError(msg)


_FACE_OF: dict[type, str] = {}


def _face_of(client: object) -> str:
    """``"async"``, ``"sync"`` or ``"other"``: which face's client ``client`` is."""
    import redis  # noqa: PLC0415 - lazy, as is_cluster
    import redis.asyncio  # noqa: PLC0415
    from redis.asyncio.cluster import RedisCluster as AsyncCluster  # noqa: PLC0415
    from redis.cluster import RedisCluster  # noqa: PLC0415

    if isinstance(client, redis.asyncio.Redis | AsyncCluster):
        return "async"
    return "sync" if isinstance(client, redis.Redis | RedisCluster) else "other"


def queued(client: Any, commands: Sequence[Any], *, transaction: bool) -> Any:
    """A pipeline of ``client`` (sync or asyncio, server or cluster) holding ``commands``.

    Nothing is sent: queuing is local in redis-py; the caller runs ``execute()``
    (blocking, or awaited).
    """
    if is_cluster(client):
        pipe = client.pipeline(transaction=transaction or None)
    else:
        pipe = client.pipeline(transaction)
    for command in commands:
        pipe.execute_command(*command.args, **command.options)
    return pipe
