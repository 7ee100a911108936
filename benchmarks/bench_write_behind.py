"""Write-behind: the cost of queueing a write, next to the raw ``XADD`` it wraps.

``WriteBehind.submit`` checks the backlog and appends to a stream in one Lua
script: one round trip, like a raw ``XADD`` (the floor). What it saves the
caller is the database's latency, which depends on that database and its
network; no stand-in is timed here, because a local SQLite commit on this
machine is faster than any network database and would teach the wrong lesson.
DESIGN sets no target for write-behind; the one round trip is checked.
"""

from __future__ import annotations

import json
from typing import Any

from benchmarks.context import BenchContext
from benchmarks.harness import Comparison, Contender, Target, each
from valkey_redis.write_behind import Write, WriteBehind

__all__ = ["build"]

VALUE = {"user_id": 42, "last_seen": "2026-01-31T12:00:00Z", "visits": 17}


def _ignore(batch: list[Write]) -> None:
    """No worker runs in this benchmark; the stream is deleted at the end."""


def build(ctx: BenchContext) -> list[Comparison]:
    """One comparison: queue a write with the helper vs a raw XADD."""
    client = ctx.client
    queue = WriteBehind(client, name=ctx.name("wb"), apply_batch=_ignore, max_len=1_000_000)
    raw_stream = ctx.name("rawstream")

    def submit() -> None:
        queue.submit("user:42", VALUE)

    def xadd() -> None:
        payload = json.dumps(VALUE, separators=(",", ":"))
        client.xadd(raw_stream, {"k": "user:42", "v": payload})

    def teardown() -> Any:
        return client.unlink(raw_stream, queue.stream)

    return [
        Comparison(
            name="write-behind submit",
            lesson="Queue one small write for a worker to apply later.",
            baseline=Contender("raw XADD", each(xadd)),
            contenders=[Contender("WriteBehind.submit", each(submit))],
            ops=ctx.ops(1000),
            target=Target("1 round trip (no speed target)", round_trips=1),
            teardown=teardown,
        )
    ]
