"""Exercise 8 — transactions and pipelines.

Before you start: read about atomicity and pipelines in docs/concepts.md, run `make example-1`.
Then replace each `raise NotImplementedError` and run `make grade EX=8`.
Stuck? `make hint EX=8`. Solved? Compare with exercises/solutions/exercise_8.py.

Many application servers share one Valkey: between two of your commands any of
them may run theirs. A read-modify-write is safe only as one command, one Lua
script, or a WATCH/MULTI/EXEC transaction retried when someone else got in
first. A pipeline saves round trips; only MULTI/EXEC (or Lua) makes it atomic.
`client` is a redis-py client with `decode_responses=True`.

Tasks:
1. reserve_stock   — take `qty` from `stock:{sku}` only if that many remain.
2. transfer_points — move points between `points:{src}` and `points:{dst}`, all or nothing.
3. bulk_load       — write many keys with a TTL in one round trip.
"""

from __future__ import annotations

from collections.abc import Mapping

import redis


def reserve_stock(client: redis.Redis, sku: str, qty: int) -> bool:
    """Take ``qty`` units from the integer at ``stock:{sku}`` if at least ``qty`` remain.

    True when taken. False when fewer than ``qty`` remain or there is no such
    key, changing nothing (and creating no key). Atomic under concurrent callers
    (WATCH/MULTI with a retry, or Lua): the stock never goes below zero, not even
    for a moment, and two callers never take the same units. A caller that
    loses a race to another retries, so when there is enough for both, both
    succeed. Only the number changes: a TTL the key has stays. A server error
    (``redis.ConnectionError``: the server is down) propagates: it is not
    "sold out", so catch only ``redis.WatchError``.
    """
    # TODO: read the stock and decide, atomically with the write (WATCH + MULTI, or Lua).
    # TODO: retry when someone else changed the key between your read and your EXEC.
    raise NotImplementedError


def transfer_points(client: redis.Redis, src: str, dst: str, amount: int) -> bool:
    """Move ``amount`` points from ``points:{src}`` to ``points:{dst}`` if ``src`` has them.

    Both integers change or neither does, even if your process dies between two
    of its commands or other transfers run at the same time; a missing key
    counts as 0 (a missing ``src`` has nothing to give: False). True when moved;
    False when ``src`` has fewer than ``amount``, changing nothing. No reader
    ever sees the points in neither or in both keys. ``amount <= 0`` raises
    ``ValueError`` before any command is sent. A server error propagates, as
    in :func:`reserve_stock`.
    """
    # TODO: validate amount.
    # TODO: check the balance and move the points in one atomic step, retrying on conflict.
    raise NotImplementedError


def bulk_load(client: redis.Redis, items: Mapping[str, str], ttl: int) -> int:
    """Write every ``key -> value`` of ``items`` with TTL ``ttl`` s in one round trip.

    Each key gets its TTL atomically with its value, so that no moment and no
    crash leaves a key without one: ``SET ... EX`` per key in a plain pipeline,
    or writes and EXPIREs together in one MULTI/EXEC. Existing keys are
    overwritten. One pipeline, executed once: one round trip however many
    items. Returns how many were written (``len(items)``; 0 for an empty
    mapping); a server error propagates.
    """
    # TODO: queue one write-with-TTL per item on a pipeline, execute it once.
    raise NotImplementedError
