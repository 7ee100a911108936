"""Exercise 6 — stampede protection.

Before you start: read about stampedes in docs/, run `make example-2`.
Then replace each `raise NotImplementedError` and run `make grade EX=6`.
Stuck? `make hint EX=6`. Solved? Compare with exercises/solutions/exercise_6.py.

When a hot key expires, every request misses at once and recomputes the value.
`client` is a redis-py client with `decode_responses=True`.

Tasks:
1. get_or_compute       — on a miss, only one caller computes (lock `lock:{key}`).
2. should_refresh_early — probabilistic early expiration (XFetch).

How the grader checks (every task): each return value must have exactly the
type of the signature (a tuple is not a list, an int is not a bool or a str).
Where a key has a TTL, it replays your function once per command k that it
sends: "your process dies right after command k", and "every key you touched
expired (or another client deleted it) right after command k". No key may ever
be left without its TTL, and the answer must stay right. One MULTI/EXEC, one
Lua script or one command like SET ... EX has no such gap.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import redis


def get_or_compute(  # noqa: PLR0917 - the signature is part of the task
    client: redis.Redis,
    key: str,
    compute: Callable[[], str],
    ttl: int,
    lock_ttl_ms: int = 5000,
    wait: float = 5.0,
) -> str:
    """Return the value cached at ``key``; on a miss only one caller runs ``compute``.

    Cache-aside where, on a miss, one caller across threads and processes takes
    the lock ``lock:{key}`` (for ``lock_ttl_ms`` ms) and runs ``compute``; the
    others wait for the value to appear, or take over if the lock expires. The
    value is cached with TTL ``ttl``. A hit is one GET (no lock). The lock holds
    a token of at least 128 bits made only from ``secrets`` (not the clock, not
    uuid1, never shared between callers); once you hold it, GET again (the
    previous holder may have stored the value meanwhile: do not compute it
    twice). Store the value before you release the lock. Release only your own
    lock, atomically (its compare and delete in one step: your lock may expire
    and be taken by another caller at any moment), and release it at once if
    ``compute`` raises (then re-raise that same exception, unchanged).

    Waiters poll with ``time.sleep``, at most 0.1 s at a time and at most 200
    commands per second, and see the value (or take over an expired lock)
    within one such sleep; they never delete or change a lock they do not hold
    (a live holder's lock expires by itself). After ``wait`` seconds without a
    value, within one more short sleep, return a str (computing it yourself is
    fine) or raise an exception (``TimeoutError``, say): never return None.
    Measure time with the ``time`` module: the grader checks the waits on a
    virtual clock, where your commands take time too.
    """
    # TODO: return the cached value on a hit.
    # TODO: on a miss, take the lock and compute, or wait for whoever holds it.
    raise NotImplementedError


def should_refresh_early(
    remaining_ttl: float,
    delta: float,
    beta: float = 1.0,
    rand: Callable[[], float] = random.random,
) -> bool:
    """Decide whether to recompute a value before it expires (XFetch).

    True iff ``-delta * beta * log(rand()) >= remaining_ttl``, where ``delta`` is
    how long a recomputation takes and ``log`` is the natural logarithm. Call
    ``rand()`` exactly once per decision. ``rand()`` is in [0, 1), like
    ``random.random``: when it returns 0.0, ``log`` is -infinity, so refresh (True).
    """
    # TODO: one line; call rand() (the grader passes its own).
    raise NotImplementedError
