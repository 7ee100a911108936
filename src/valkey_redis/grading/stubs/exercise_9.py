"""Exercise 9 — write-behind on a Stream with a consumer group.

Before you start: read about write-behind in docs/patterns.md, run `make example-2`.
Then replace each `raise NotImplementedError` and run `make grade EX=9`.
Stuck? `make hint EX=9`. Solved? Compare with exercises/solutions/exercise_9.py.

Write-behind answers the user at once and applies the write to the database
later, in batches. The writes wait in the Stream `wb:{stream}`; workers of a
consumer group read them, apply them, and only then acknowledge (XACK) and
delete (XDEL) them. A worker that dies between reading and acknowledging leaves
its entries pending; another worker takes them over (XAUTOCLAIM).
`client` is a redis-py client with `decode_responses=True`; `apply` stands in
for the database: it takes a list of `(key, value)` pairs.

Tasks:
1. submit_write  — append a write to the stream; never trim unapplied writes.
2. process_batch — read new entries as one consumer, apply them, then ack and delete.
3. reclaim_stale — take over entries a dead worker left pending, apply, ack, delete.
"""

from __future__ import annotations

from collections.abc import Callable

import redis


def submit_write(client: redis.Redis, stream: str, key: str, value: str) -> str:
    """Append ``{"key": key, "value": value}`` to the stream ``wb:{stream}``; return its id.

    The id is the one the server gives the entry (``XADD ... *``), never one
    made from this machine's clock: another application server's clock, or a
    server whose clock was set back, may already have put later ids in the
    stream. Never trim the stream (no ``MAXLEN`` / ``MINID``) and give it no TTL:
    an entry may only leave it once applied.
    """
    # TODO: XADD the two fields and return the id.
    raise NotImplementedError


def process_batch(  # noqa: PLR0917 - the signature is part of the task
    client: redis.Redis,
    stream: str,
    group: str,
    consumer: str,
    apply: Callable[[list[tuple[str, str]]], None],
    count: int = 100,
) -> int:
    """Apply up to ``count`` new entries of ``wb:{stream}`` as ``consumer`` of ``group``.

    - Create the group if it does not exist yet, reading from the start of the
      stream (so writes submitted before the first batch are applied too), and
      work on a stream that does not exist yet (``XGROUP CREATE ... 0 MKSTREAM``;
      a group that already exists is not an error; any other error propagates).
    - Read only entries never delivered to any consumer of the group
      (``XREADGROUP ... >``), at most ``count``. Entries already pending at
      ``consumer`` (a batch whose ``apply`` raised) are not read again here:
      they are :func:`reclaim_stale`'s, and must not block the new ones.
    - Call ``apply`` once with a list of their ``(key, value)`` tuples, in stream
      order, one per entry: a key written several times appears several times
      (every write is applied, in order, none merged); not at all when there is
      nothing new.
    - Only after ``apply`` returned: acknowledge (XACK) and delete (XDEL) them.
      If ``apply`` raises, acknowledge nothing and let the error propagate (the
      entries stay pending, for :func:`reclaim_stale`).
    - Return how many entries were applied (0 when none).

    Several workers (threads or processes, each its own ``consumer`` name) may
    run this at the same time: each entry is applied by exactly one of them, and
    a worker that dies at any point loses no write.
    """
    # TODO: create the group (from 0, MKSTREAM), ignoring "BUSYGROUP" if it exists.
    # TODO: XREADGROUP up to count new entries; apply them all at once.
    # TODO: then XACK and XDEL them; return how many.
    raise NotImplementedError


def reclaim_stale(  # noqa: PLR0917 - the signature is part of the task
    client: redis.Redis,
    stream: str,
    group: str,
    consumer: str,
    min_idle_ms: int,
    apply: Callable[[list[tuple[str, str]]], None],
) -> int:
    """Take over entries pending longer than ``min_idle_ms`` at other consumers; apply them.

    A worker that read entries and died before acknowledging leaves them pending.
    Claim every such entry idle for at least ``min_idle_ms`` ms (``XAUTOCLAIM``,
    following its cursor until it answers ``0-0``: a page may come back short,
    or empty, with more to come, as XAUTOCLAIM looks at only ``10 x COUNT``
    pending entries per call) for ``consumer``, never one that was idle for
    less. The idle test and the claim are one command (XAUTOCLAIM, or XCLAIM
    with its min-idle-time): an entry another reclaimer claimed a moment ago is
    its own, never applied twice. Then as in :func:`process_batch`: ``apply``
    once per call, with the list of every claimed ``(key, value)`` tuple in
    stream order, however many pages it took (not at all when there are none),
    and only after it returned XACK and XDEL them; if it raises, nothing is
    acknowledged and the error propagates. Return how many were applied.
    """
    # TODO: XAUTOCLAIM from 0-0 until the cursor comes back as 0-0.
    # TODO: apply the claimed pairs once, then XACK and XDEL them; return how many.
    raise NotImplementedError
