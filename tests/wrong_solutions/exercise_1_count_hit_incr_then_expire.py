"""A WRONG solution of exercise 1, kept as test data for the grader.

The mistake: count_hit sends INCR, then EXPIRE when the count is 1, as two separate
commands: if the process dies between them, the counter lives forever without a TTL.
The grader must fail it with the check named in EXPECTED_FAILURE.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

import redis

from valkey_redis.keys import join

EXPECTED_FAILURE = "count_hit never leaves hits:{page} without a TTL, even after a crash"


def save_profile(client: redis.Redis, user_id: int, profile: Mapping[str, str], ttl: int) -> None:
    """Replace the profile hash ``user:{user_id}`` atomically, with a TTL."""
    key = join("user", user_id)  # "user:42"; join() escapes ':' and braces in user input
    # MULTI/EXEC: readers see the old profile or the new one, never a mix, and
    # the key never exists without its TTL (a crash cannot leave it forever).
    with client.pipeline(transaction=True) as pipe:
        pipe.delete(key)  # HSET alone would keep fields the new profile dropped
        pipe.hset(key, mapping=dict(profile.items()))
        pipe.expire(key, ttl)
        pipe.execute()


def load_profile(client: redis.Redis, user_id: int) -> dict[str, str] | None:
    """Return the profile, or None when there is none."""
    fields = cast(dict[str, str], client.hgetall(join("user", user_id)))
    # HGETALL answers {} for a missing key: the caller wants None for "no profile".
    return fields or None


def add_points(client: redis.Redis, board: str, player: str, points: float) -> float:
    """Add ``points`` to the player's score and return the new total."""
    # ZINCRBY adds on the server: two concurrent calls can never lose an update,
    # unlike ZSCORE + ZADD from Python.
    return float(cast(float, client.zincrby(join("leaderboard", board), points, player)))


def top_players(client: redis.Redis, board: str, n: int) -> list[tuple[str, float]]:
    """Return at most ``n`` (player, score) pairs, highest score first."""
    if n <= 0:
        return []  # ZREVRANGE 0 -1 would mean "everything"
    # The end index is inclusive: 0 .. n - 1 is n entries.
    rows = client.zrevrange(join("leaderboard", board), 0, n - 1, withscores=True)
    return [(str(member), float(score)) for member, score in cast(list[tuple[str, float]], rows)]


def claim_username(client: redis.Redis, username: str, user_id: int) -> bool:
    """Claim ``username`` for ``user_id``; True only for the first claimant."""
    # SET NX checks and writes in one command: GET-then-SET lets two callers both
    # see "free" and both win. redis-py answers None (not False) when NX refuses.
    return bool(client.set(join("username", username), user_id, nx=True))


def count_hit(client: redis.Redis, page: str, window: int) -> int:
    """Count a hit on ``page`` and return the count in the current window."""
    key = join("hits", page)
    count = int(cast(int, client.incr(key)))
    if count == 1:
        client.expire(key, window)  # a crash before this line leaves the key forever
    return count
