"""Exercise 6 — stampede protection (reference solution).

When a hot key expires, every request misses at once and recomputes it (a
stampede). Two cures: let one caller compute under a lock while the others
wait (:func:`get_or_compute`), or refresh early, at random, before it expires
(:func:`should_refresh_early`, XFetch).
"""

from __future__ import annotations

import math
import random
import secrets
import time
from collections.abc import Callable
from typing import cast

import redis

from valkey_redis.keys import join

# Compare-and-delete: if our lock expired and someone else took it while we
# computed, a plain DEL would remove *their* lock.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

_POLL_SECONDS = 0.01


def get_or_compute(  # noqa: PLR0917 - the signature is part of the task
    client: redis.Redis,
    key: str,
    compute: Callable[[], str],
    ttl: int,
    lock_ttl_ms: int = 5000,
    wait: float = 5.0,
) -> str:
    """Return the cached value of ``key``; on a miss only one caller computes it."""
    value = cast(str | None, client.get(key))
    if value is not None:
        return value
    lock_key = join("lock", key)
    release = client.register_script(_RELEASE)
    deadline = time.monotonic() + wait
    while True:
        token = secrets.token_hex(16)
        # SET NX PX: one winner, and the lock expires if the winner dies, so a
        # waiter can take over.
        if client.set(lock_key, token, nx=True, px=lock_ttl_ms):
            try:
                # Check again: the previous holder may have filled it between our
                # first GET and our lock. Without this, a late caller recomputes.
                value = cast(str | None, client.get(key))
                if value is None:
                    value = compute()
                    client.set(key, value, ex=ttl)
                return value
            finally:
                release(keys=[lock_key], args=[token])
        # Someone else is computing: wait for the value, or for their lock to expire
        # (then the next loop's SET NX takes over).
        time.sleep(_POLL_SECONDS)
        value = cast(str | None, client.get(key))
        if value is not None:
            return value
        if time.monotonic() >= deadline:
            # Waited long enough: better one extra computation than an error.
            value = compute()
            client.set(key, value, ex=ttl)
            return value


def should_refresh_early(
    remaining_ttl: float,
    delta: float,
    beta: float = 1.0,
    rand: Callable[[], float] = random.random,
) -> bool:
    """XFetch: refresh now with a probability that grows as expiry approaches.

    Args:
        remaining_ttl: seconds until the cached value expires.
        delta: how long recomputing takes, in seconds.
        beta: > 1 refreshes earlier, < 1 later.
        rand: uniform random numbers in [0, 1); injectable for tests.
    """
    # -log(rand()) is exponentially distributed with mean 1: usually small, now
    # and then large. Scaled by the recompute time, callers refresh early more
    # often as the expiry nears, and rarely all at once.
    # random.random() can return 0.0, and log(0) is -infinity: refresh.
    draw = rand()
    return draw <= 0.0 or -delta * beta * math.log(draw) >= remaining_ttl
