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

How the grader checks (every task): each return value must have exactly the
type of the signature (a tuple is not a list, an int is not a bool or a str).
Where a key has a TTL, it replays your function once per command k that it
sends: "your process dies right after command k", and "every key you touched
expired (or another client deleted it) right after command k". No key may ever
be left without its TTL, and the answer must stay right. One MULTI/EXEC, one
Lua script or one command like SET ... EX has no such gap.
"""

from __future__ import annotations

import redis


def allow_fixed_window(client: redis.Redis, key: str, limit: int, window: int) -> bool:
    """Allow at most ``limit`` requests until the counter expires.

    The counter ``ratelimit:fixed:{key}`` expires ``window`` seconds after the
    first hit of its window (later hits do not push it back), and always has a
    TTL: a counter found without one (left by an older version, or a crash)
    gets one on the next request.
    """
    # TODO: count this request and make sure the counter has a TTL.
    # TODO: compare with the limit (is the limit-th request allowed?).
    raise NotImplementedError


def allow_sliding_log(client: redis.Redis, key: str, limit: int, window: float) -> bool:
    """Allow iff fewer than ``limit`` requests were allowed in the last ``window`` seconds.

    The sorted set ``ratelimit:log:{key}`` records the times of allowed requests
    (rejected ones are not recorded, not even for a moment: a crash must not
    leave one behind) and has a TTL. Atomic. Scores are the request times, read
    from the server (``TIME`` in the script), never from the caller's clock:
    application servers' clocks disagree by seconds. Each allowed request is its
    own member (a random suffix), so two requests at the same instant both count.
    """
    # TODO: drop entries older than the window, count, and record only if allowed: atomically.
    raise NotImplementedError


def allow_token_bucket(client: redis.Redis, key: str, capacity: int, refill_per_sec: float) -> bool:
    """Take one token from the bucket ``ratelimit:bucket:{key}`` (a hash).

    The bucket starts full (``capacity`` tokens), refills continuously at
    ``refill_per_sec`` tokens per second up to ``capacity``, and each request
    takes one token; a refused request costs nothing (polled faster than one
    token's worth, an empty bucket still refills). Atomic (a Lua script), with
    the time read from the server (``TIME``), never from the caller's clock.
    The key has a TTL, set on every call, no shorter than the time the bucket
    needs to refill to full (an expired bucket starts full again): right after
    a request that empties it, at least ``capacity / refill_per_sec`` seconds,
    at any rate, below or above 1 token/s. Keep the state in the hash, with the
    time of the last refill as a number (seconds or milliseconds).

    The grader plays seeded scenarios of rates, gaps and bursts against a model,
    making time pass by moving your stored times and TTLs back.
    """
    # TODO: write a Lua script: refill from the elapsed time, take a token if there is one.
    raise NotImplementedError
