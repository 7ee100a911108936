"""Exercise 5 — rate limiting.

Before you start: read about rate limiting in docs/, run `make example-4`.
Then replace each `raise NotImplementedError` and run `make grade EX=5`.
Stuck? `make hint EX=5`. Solved? Compare with exercises/solutions/exercise_5.py.

Each function answers "may this request go ahead?" for the client identified
by `key`. Many application servers ask at the same time, so each answer must
be atomic. `client` is a redis-py client with `decode_responses=True`.

Tasks:
1. allow_fixed_window — counter `ratelimit:fixed:{key}`; at most `limit` per window.
2. allow_sliding_log  — sorted set `ratelimit:log:{key}` of request times.
3. allow_token_bucket — hash `ratelimit:bucket:{key}`; starts full; refills continuously.
"""

from __future__ import annotations

import redis


def allow_fixed_window(client: redis.Redis, key: str, limit: int, window: int) -> bool:
    """Allow at most ``limit`` requests until the counter expires.

    The counter ``ratelimit:fixed:{key}`` expires ``window`` seconds after the
    first hit of its window, and always has a TTL.
    """
    # TODO: count this request and make sure the counter has a TTL.
    # TODO: compare with the limit (is the limit-th request allowed?).
    raise NotImplementedError


def allow_sliding_log(client: redis.Redis, key: str, limit: int, window: float) -> bool:
    """Allow iff fewer than ``limit`` requests were allowed in the last ``window`` seconds.

    The sorted set ``ratelimit:log:{key}`` records the times of allowed requests
    (rejected ones are not recorded) and has a TTL. Atomic.
    """
    # TODO: drop entries older than the window, count, and record only if allowed: atomically.
    raise NotImplementedError


def allow_token_bucket(client: redis.Redis, key: str, capacity: int, refill_per_sec: float) -> bool:
    """Take one token from the bucket ``ratelimit:bucket:{key}`` (a hash).

    The bucket starts full (``capacity`` tokens), refills continuously at
    ``refill_per_sec`` tokens per second up to ``capacity``, and each request
    takes one token. Atomic (a Lua script); the key has a TTL.
    """
    # TODO: write a Lua script: refill from the elapsed time, take a token if there is one.
    raise NotImplementedError
