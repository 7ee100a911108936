"""A WRONG solution of exercise 6, kept as test data for the grader.

The mistake: no lock at all: every caller that misses computes.
The grader must fail it with the check named in EXPECTED_FAILURE.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import cast

import redis

EXPECTED_FAILURE = "get_or_compute lets only one of 8 threads compute"

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
    """Plain cache-aside: a stampede on every expiry."""
    value = cast(str | None, client.get(key))
    if value is None:
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
