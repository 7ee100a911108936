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
flows group the keys by slot and send one command per slot, all in one
pipeline (one round trip per node). Both are flows (:mod:`valkey_redis.core.flow`):
the sync and the async cache run the same code.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from redis.crc import key_slot

from valkey_redis.core.flow import Command, Flow, Pipeline
from valkey_redis.core.scripts import script

__all__ = ["delete_all", "read_all", "write_all"]

# Sent with EVAL, not EVALSHA: the text is tiny next to a batch of entries, and
# EVAL is one round trip even on a server that has never seen the script (an
# EVALSHA would fail with NOSCRIPT there and need a second one).
_SET_MANY = script("cache_set_many")
_DELETE = script("cache_delete")
# How long a delete remembers its count for a retry of the same call (redis-py
# retries within seconds); the memo key is the first entry's key + ":deleted".
_MEMO_MS = 60_000


def _by_slot(names: Sequence[str]) -> list[list[int]]:
    groups: dict[int, list[int]] = {}
    for index, name in enumerate(names):
        groups.setdefault(key_slot(name.encode()), []).append(index)
    return list(groups.values())


def read_all(names: Sequence[str], *, cluster: bool) -> Flow[list[bytes | None]]:
    """Return the raw bytes stored at ``names`` (None where missing), in order."""
    if not cluster:
        return list((yield Command(("MGET", *names), raw=True)))
    groups = _by_slot(names)
    replies = yield Pipeline([Command(("MGET", *(names[i] for i in g)), raw=True) for g in groups])
    out: list[bytes | None] = [None] * len(names)
    for indexes, reply in zip(groups, replies, strict=True):
        for index, raw in zip(indexes, reply, strict=True):
            out[index] = raw
    return out


def write_all(
    names: Sequence[str], entries: Sequence[str], pxs: Sequence[int], *, cluster: bool
) -> Flow[None]:
    """Store ``entries[i]`` at ``names[i]`` for ``pxs[i]`` milliseconds, in one round trip.

    Raises:
        redis.exceptions.RedisError: the server is unreachable or refused.
    """
    if not cluster:
        args: list[object] = [0] * (2 * len(names))  # entry, px, entry, px, ...
        args[::2] = entries
        args[1::2] = pxs
        yield Command(("EVAL", _SET_MANY.text, len(names), *names, *args))
        return
    commands = []
    for indexes in _by_slot(names):  # one script per slot, all in one pipeline
        group = [names[i] for i in indexes]
        pairs = [value for i in indexes for value in (entries[i], pxs[i])]
        commands.append(Command(("EVAL", _SET_MANY.text, len(group), *group, *pairs)))
    yield Pipeline(commands)


def delete_all(names: Sequence[str], *, cluster: bool) -> Flow[int]:
    """Delete ``names``; return how many existed. Safe to retry.

    A lost reply makes redis-py re-send the command, and a plain ``DEL`` would then
    answer 0 for entries its first run deleted. Each call carries a random token
    and leaves ``<first key>:deleted`` (``token|count``, 60 s) behind, so the retry
    returns the first run's count (``cache_delete.lua``). One script per hash slot
    on a cluster, all in one pipeline.
    """
    token = secrets.token_hex(8)

    def command(group: list[str]) -> Command:
        memo = f"{group[0]}:deleted"
        return Command(("EVAL", _DELETE.text, len(group) + 1, *group, memo, token, _MEMO_MS))

    if not cluster:
        return int((yield command(list(names))))
    groups = [[names[i] for i in indexes] for indexes in _by_slot(names)]
    replies = yield Pipeline([command(group) for group in groups])
    return sum(int(reply) for reply in replies)
