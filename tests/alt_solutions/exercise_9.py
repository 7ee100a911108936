"""A second correct solution of exercise 9, written differently: the group created only
when XREADGROUP says it is missing, XACK and XDEL as two commands, and XPENDING + XCLAIM
instead of XAUTOCLAIM.

Kept as test data: the grader must accept it as well as the reference.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis

Apply = Callable[[list[tuple[str, str]]], None]


def submit_write(client: redis.Redis, stream: str, key: str, value: str) -> str:
    """XADD with an explicit '*'."""
    entry_id: Any = client.execute_command("XADD", f"wb:{stream}", "*", "key", key, "value", value)
    return str(entry_id)


def _finish(client: redis.Redis, name: str, group: str, rows: list[Any], apply: Apply) -> int:
    if rows:
        apply([(f["key"], f["value"]) for _, f in rows])
        ids = [i for i, _ in rows]
        client.xack(name, group, *ids)
        client.xdel(name, *ids)
    return len(rows)


def process_batch(  # noqa: PLR0917 - the signature is part of the task
    client: redis.Redis,
    stream: str,
    group: str,
    consumer: str,
    apply: Apply,
    count: int = 100,
) -> int:
    """Create the group lazily, when XREADGROUP finds none."""
    name = f"wb:{stream}"
    try:
        reply: Any = client.xreadgroup(group, consumer, {name: ">"}, count=count)
    except redis.ResponseError:  # NOGROUP (fakeredis words it differently)
        client.xgroup_create(name, group, id="0", mkstream=True)
        reply = client.xreadgroup(group, consumer, {name: ">"}, count=count)
    return _finish(client, name, group, list(reply[0][1]) if reply else [], apply)


def reclaim_stale(  # noqa: PLR0917 - the signature is part of the task
    client: redis.Redis,
    stream: str,
    group: str,
    consumer: str,
    min_idle_ms: int,
    apply: Apply,
) -> int:
    """XPENDING with IDLE, then XCLAIM, page by page."""
    name = f"wb:{stream}"
    rows: list[Any] = []
    start = "-"
    while True:
        page: Any = client.xpending_range(name, group, start, "+", 100, idle=min_idle_ms)
        if not page:
            break
        ids = [p["message_id"] for p in page]
        rows += [r for r in client.xclaim(name, group, consumer, min_idle_ms, ids) if r[1]]
        last = str(ids[-1])
        millis, seq = last.split("-")
        start = f"{millis}-{int(seq) + 1}"
    return _finish(client, name, group, rows, apply)
