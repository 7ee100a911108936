"""A WRONG solution of exercise 6, kept as test data for the grader.

The mistake: waiters only poll for the value: when the holder dies they wait the full
`wait`.
The grader must fail it with the check named in EXPECTED_FAILURE.
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

EXPECTED_FAILURE = "get_or_compute takes over when the lock holder died"

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
    """Waiters never try the lock again, so a dead holder stalls them for `wait` s."""
    value = cast(str | None, client.get(key))
    if value is not None:
        return value
    lock_key = join("lock", key)
    token = secrets.token_hex(16)
    if client.set(lock_key, token, nx=True, px=lock_ttl_ms):
        try:
            value = compute()
            client.set(key, value, ex=ttl)
            return value
        finally:
            client.register_script(_RELEASE)(keys=[lock_key], args=[token])
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        time.sleep(_POLL_SECONDS)
        value = cast(str | None, client.get(key))
        if value is not None:
            return value
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
    return -delta * beta * math.log(rand()) >= remaining_ttl
