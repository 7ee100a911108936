"""Exercise 9 — write-behind on a Stream with a consumer group (reference solution).

The stream is the queue of writes still to apply. A consumer group hands each
new entry to one consumer and remembers it as pending until acknowledged, so
"read, apply, then acknowledge" gives at-least-once delivery: a crash before
the XACK leaves the entry pending for another worker to claim, never lost.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import redis

from valkey_redis.keys import join

Entry = tuple[str, dict[str, str]]


def _stream_key(stream: str) -> str:
    return join("wb", stream)


def submit_write(client: redis.Redis, stream: str, key: str, value: str) -> str:
    """Append the write to ``wb:{stream}`` and return its id."""
    # No maxlen=: trimming drops the oldest entries whether or not they were
    # applied. Applied entries are XDELed by the workers, so the stream stays small.
    return str(client.xadd(_stream_key(stream), {"key": key, "value": value}))


def _apply_then_ack(
    client: redis.Redis,
    name: str,
    group: str,
    entries: list[Entry],
    apply: Callable[[list[tuple[str, str]]], None],
) -> int:
    if not entries:
        return 0
    # If apply raises we stop here: nothing is acknowledged, the entries stay
    # pending, and reclaim_stale retries them later.
    apply([(fields["key"], fields["value"]) for _, fields in entries])
    ids = [entry_id for entry_id, _ in entries]
    with client.pipeline() as pipe:  # XACK and XDEL together: one round trip
        pipe.xack(name, group, *ids)
        pipe.xdel(name, *ids)
        pipe.execute()
    return len(entries)


def process_batch(  # noqa: PLR0917 - the signature is part of the task
    client: redis.Redis,
    stream: str,
    group: str,
    consumer: str,
    apply: Callable[[list[tuple[str, str]]], None],
    count: int = 100,
) -> int:
    """Apply up to ``count`` new entries as ``consumer``; ack and delete them after."""
    name = _stream_key(stream)
    # id="0": the group starts at the beginning, so writes submitted before the
    # first worker ran are not skipped ("$" would start after them).
    try:
        client.xgroup_create(name, group, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):  # the group exists already: fine
            raise
    # ">": entries never delivered to anyone in the group. "0" would re-read
    # this consumer's own pending entries instead, never the new ones.
    reply = cast(list[Any], client.xreadgroup(group, consumer, {name: ">"}, count=count))
    entries: list[Entry] = reply[0][1] if reply else []
    return _apply_then_ack(client, name, group, entries, apply)


def reclaim_stale(  # noqa: PLR0917 - the signature is part of the task
    client: redis.Redis,
    stream: str,
    group: str,
    consumer: str,
    min_idle_ms: int,
    apply: Callable[[list[tuple[str, str]]], None],
) -> int:
    """Claim entries idle for ``min_idle_ms`` at other consumers, apply, ack, delete."""
    name = _stream_key(stream)
    entries: list[Entry] = []
    cursor = "0-0"
    while True:
        # XAUTOCLAIM moves entries idle for at least min_idle_ms to us; entries
        # idle for less belong to a live worker and are left alone.
        reply = client.xautoclaim(name, group, consumer, min_idle_ms, cursor)
        cursor = str(reply[0])
        # An entry deleted from the stream but still pending comes back without
        # its fields (or is dropped by the server): nothing to apply.
        entries += [(entry_id, fields) for entry_id, fields in reply[1] if fields]
        if cursor == "0-0":
            break
    return _apply_then_ack(client, name, group, entries, apply)
