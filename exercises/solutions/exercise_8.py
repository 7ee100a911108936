"""Exercise 8 — transactions and pipelines (reference solution).

Read-modify-write with WATCH/MULTI/EXEC: WATCH the keys, read them, decide in
Python, and queue the writes in MULTI; EXEC runs them only if no watched key
changed since the WATCH, else it fails and we start over with fresh values
(optimistic locking). A pipeline without MULTI only batches round trips.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

import redis

from valkey_redis.keys import join


def reserve_stock(client: redis.Redis, sku: str, qty: int) -> bool:
    """Take ``qty`` units from ``stock:{sku}`` if at least ``qty`` remain."""
    key = join("stock", sku)
    with client.pipeline() as pipe:
        while True:
            try:
                # After WATCH, commands run at once (no MULTI yet): GET is a real read.
                pipe.watch(key)  # type: ignore[no-untyped-call]  # untyped in redis-py
                raw = cast(str | None, pipe.get(key))
                if raw is None or int(raw) < qty:
                    pipe.unwatch()
                    return False  # decided on a value nobody changed: nothing to undo
                pipe.multi()
                # DECRBY changes only the number; SET would drop the key's TTL.
                pipe.decrby(key, qty)
                pipe.execute()
                return True
            except redis.WatchError:
                # Someone changed the stock after our GET: our decision is stale.
                # Not "False": there may still be enough. Read again.
                continue


def transfer_points(client: redis.Redis, src: str, dst: str, amount: int) -> bool:
    """Move ``amount`` points from ``points:{src}`` to ``points:{dst}``, all or nothing."""
    if amount <= 0:
        msg = f"amount must be positive, got {amount}"
        raise ValueError(msg)
    src_key, dst_key = join("points", src), join("points", dst)
    with client.pipeline() as pipe:
        while True:
            try:
                # Watch both: a transfer into src, or any change of dst, also
                # makes our EXEC fail rather than act on stale numbers.
                pipe.watch(src_key, dst_key)  # type: ignore[no-untyped-call]
                balance = int(cast(str | None, pipe.get(src_key)) or 0)
                if balance < amount:
                    pipe.unwatch()
                    return False
                pipe.multi()
                # Both writes in one EXEC: no reader and no crash can see one
                # without the other.
                pipe.decrby(src_key, amount)
                pipe.incrby(dst_key, amount)
                pipe.execute()
                return True
            except redis.WatchError:
                continue


def bulk_load(client: redis.Redis, items: Mapping[str, str], ttl: int) -> int:
    """Write every item with TTL ``ttl`` in one round trip; return how many."""
    if not items:
        return 0
    # transaction=False: a plain batch, one round trip. Atomicity across keys is
    # not needed, but each SET carries its own EX, so no key ever lacks a TTL.
    with client.pipeline(transaction=False) as pipe:
        for key, value in items.items():
            pipe.set(key, value, ex=ttl)
        pipe.execute()
    return len(items)
