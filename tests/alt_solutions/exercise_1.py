"""A second correct solution of exercise 1, written differently: Lua instead of MULTI, SETNX.

Kept as test data: the grader must accept it as well as the reference.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import redis

_SAVE = """
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
"""

_HIT = """
local count = redis.call('INCR', KEYS[1])
if redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
end
return count
"""


def save_profile(client: redis.Redis, user_id: int, profile: Mapping[str, str], ttl: int) -> None:
    """One Lua script: atomic like MULTI."""
    args: list[Any] = [ttl]
    for field, value in profile.items():
        args += [field, value]
    client.register_script(_SAVE)(keys=[f"user:{user_id}"], args=args)


def load_profile(client: redis.Redis, user_id: int) -> dict[str, str] | None:
    """HGETALL; {} means absent."""
    fields: dict[str, str] = client.hgetall(f"user:{user_id}")  # type: ignore[assignment]
    if not fields:
        return None
    return dict(fields)


def add_points(client: redis.Redis, board: str, player: str, points: float) -> float:
    """ZINCRBY inside a MULTI."""
    with client.pipeline() as pipe:
        pipe.zincrby(f"leaderboard:{board}", points, player)
        (total,) = pipe.execute()
    return float(total)


def top_players(client: redis.Redis, board: str, n: int) -> list[tuple[str, float]]:
    """ZRANGE ... REV."""
    if n < 1:
        return []
    rows = client.zrange(f"leaderboard:{board}", 0, n - 1, desc=True, withscores=True)
    return [(str(m), float(s)) for m, s in cast(list[tuple[str, float]], rows)]


def claim_username(client: redis.Redis, username: str, user_id: int) -> bool:
    """SETNX answers True/False."""
    return bool(client.setnx(f"username:{username}", user_id))


def count_hit(client: redis.Redis, page: str, window: int) -> int:
    """INCR and EXPIRE-if-no-TTL in one script."""
    return int(client.register_script(_HIT)(keys=[f"hits:{page}"], args=[window]))
