"""Batches: read or write many cache entries in one round trip, on a server or a cluster.

Use this when a request needs many keys at once (a page of products, a warm-up):
:func:`read_all` is one ``MGET`` and :func:`write_all` one script call that runs
``SET ... PX`` for every entry, instead of one round trip per key. On 1,000 keys
that is the difference between one network wait and a thousand.

Not for: unbounded batches. A script runs alone: while it writes 1,000 entries
(a few milliseconds) every other client waits, where a pipeline of ``SET``s would
interleave with them; and an ``MGET`` reply is buffered whole in memory. Split
huge batches into chunks of a few thousand.

How it fails: a server error raises ``redis.exceptions.RedisError``; the caller
decides whether that is a miss (reads) or an error (writes). A batch write is
atomic on a single server (one script); on a cluster each hash slot's part is
atomic on its own, and a failure may leave some slots written, each entry with
its TTL.

On Valkey Cluster one command may only touch keys of one hash slot, so both
functions group the keys by slot and send one command per slot, all in one
pipeline (one round trip per node).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from importlib import resources
from typing import Any, cast

import redis
from redis.client import NEVER_DECODE
from redis.cluster import RedisCluster

__all__ = ["BYTES", "delete_all", "read_all", "write_all"]

#: Pass as ``**BYTES`` to ``execute_command``: the reply stays bytes even on a
#: ``decode_responses=True`` client, so the cache decodes it and bad UTF-8 is a miss.
BYTES: dict[str, Any] = {NEVER_DECODE: []}

# Sent with EVAL, not EVALSHA: the text is tiny next to a batch of entries, and
# EVAL is one round trip even on a server that has never seen the script (an
# EVALSHA would fail with NOSCRIPT there and need two more).
_SET_MANY = (
    (resources.files("valkey_redis") / "scripts" / "cache_set_many.lua")
    .read_text(encoding="utf-8")
    .strip()
)


_DELETE = (
    (resources.files("valkey_redis") / "scripts" / "cache_delete.lua")
    .read_text(encoding="utf-8")
    .strip()
)
# How long a delete remembers its count for a retry of the same call (redis-py
# retries within seconds); the memo key is the first entry's key + ":deleted".
_MEMO_MS = 60_000


def _by_slot(cluster: Any, names: Sequence[str]) -> list[list[int]]:
    groups: dict[int, list[int]] = {}
    for index, name in enumerate(names):
        groups.setdefault(cluster.keyslot(name), []).append(index)
    return list(groups.values())


def read_all(client: redis.Redis | RedisCluster, names: Sequence[str]) -> list[bytes | None]:
    """Return the raw bytes stored at ``names`` (None where missing), in order."""
    if not isinstance(client, RedisCluster):
        execute: Any = client.execute_command  # untyped in redis-py 8
        return cast(list[bytes | None], execute("MGET", *names, **BYTES))
    cluster: Any = client  # RedisCluster's methods are untyped in redis-py 8
    groups = _by_slot(cluster, names)
    pipe = cluster.pipeline()
    for indexes in groups:
        pipe.execute_command("MGET", *(names[i] for i in indexes), **BYTES)
    out: list[bytes | None] = [None] * len(names)
    for indexes, reply in zip(groups, pipe.execute(), strict=True):
        for index, raw in zip(indexes, reply, strict=True):
            out[index] = raw
    return out


def write_all(
    client: redis.Redis | RedisCluster,
    names: Sequence[str],
    entries: Sequence[str],
    pxs: Sequence[int],
) -> None:
    """Store ``entries[i]`` at ``names[i]`` for ``pxs[i]`` milliseconds, in one round trip.

    Raises:
        redis.exceptions.RedisError: the server is unreachable or refused.
    """
    if not isinstance(client, RedisCluster):
        args: list[object] = [0] * (2 * len(names))  # entry, px, entry, px, ...
        args[::2] = entries
        args[1::2] = pxs
        execute: Any = client.execute_command  # untyped in redis-py 8
        execute("EVAL", _SET_MANY, len(names), *names, *args)
        return
    cluster: Any = client
    pipe = cluster.pipeline()
    for indexes in _by_slot(cluster, names):
        group = [names[i] for i in indexes]
        pairs = [value for i in indexes for value in (entries[i], pxs[i])]
        pipe.execute_command("EVAL", _SET_MANY, len(group), *group, *pairs)
    pipe.execute()


def delete_all(client: redis.Redis | RedisCluster, names: Sequence[str]) -> int:
    """Delete the entries at ``names``; return how many existed. Safe to retry.

    A lost reply makes redis-py re-send the command, and a plain ``DEL`` would then
    answer 0 for entries its first run deleted. Each call carries a random token
    and leaves ``<first key>:deleted`` (``token|count``, 60 s) behind, so the retry
    returns the first run's count. One script per hash slot on a cluster.

    Raises:
        redis.exceptions.RedisError: the server is unreachable or refused.
    """
    token = secrets.token_hex(8)
    if not isinstance(client, RedisCluster):
        groups = [list(names)]
    else:
        groups = [[names[i] for i in indexes] for indexes in _by_slot(client, names)]
    execute: Any = client.execute_command  # untyped in redis-py 8
    total = 0
    for group in groups:
        memo = f"{group[0]}:deleted"
        total += int(execute("EVAL", _DELETE, len(group) + 1, *group, memo, token, _MEMO_MS))
    return total
