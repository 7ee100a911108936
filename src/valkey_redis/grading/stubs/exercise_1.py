"""Exercise 1 — data structures, TTL, atomic operations.

Before you start: read the basics in docs/, run `make example-1`.
Then replace each `raise NotImplementedError` and run `make grade EX=1`.
Stuck? `make hint EX=1`. Solved? Compare with exercises/solutions/exercise_1.py.

Every function takes `client` first: a redis-py client created with
`decode_responses=True` (you send and get back `str`). The key names are part
of the task, the grader inspects them: `valkey_redis.keys.join("user", 42)`
builds `user:42` (an f-string works too for plain ids).

Tasks:
1. save_profile   — hash `user:{user_id}`, old fields gone, TTL, one transaction.
2. load_profile   — the fields, or None when there is no profile.
3. add_points     — sorted set `leaderboard:{board}`; return the new total.
4. top_players    — highest first, at most `n`.
5. claim_username — `username:{username}` = user id; True only for the first claimant.
6. count_hit      — counter `hits:{page}`; the window starts at the first hit.

How the grader checks (every task): each return value must have exactly the
type of the signature (a tuple is not a list, an int is not a bool or a str).
Where a key has a TTL, it replays your function once per command k that it
sends: "your process dies right after command k", and "every key you touched
expired (or another client deleted it) right after command k". No key may ever
be left without its TTL, and the answer must stay right. One MULTI/EXEC, one
Lua script or one command like SET ... EX has no such gap.
"""

from __future__ import annotations

from collections.abc import Mapping

import redis


def save_profile(client: redis.Redis, user_id: int, profile: Mapping[str, str], ttl: int) -> None:
    """Store ``profile`` in the hash ``user:{user_id}``, expiring after ``ttl`` seconds.

    Any previous profile is replaced: its old fields must be gone. Write it
    atomically, in one MULTI/EXEC transaction, so a reader never sees a
    half-written profile and the key never exists without its TTL.
    """
    # TODO: in one transaction (client.pipeline()): delete the key, HSET the fields, EXPIRE it.
    raise NotImplementedError


def load_profile(client: redis.Redis, user_id: int) -> dict[str, str] | None:
    """Return the profile stored in ``user:{user_id}``, or None when there is none.

    None also when the profile expires while you read it: never an empty dict.
    """
    # TODO: read the hash; mind what HGETALL answers for a key that does not exist.
    raise NotImplementedError


def add_points(client: redis.Redis, board: str, player: str, points: float) -> float:
    """Add ``points`` to ``player`` in the sorted set ``leaderboard:{board}``.

    Returns:
        The player's new total, as a float, exactly as stored (not rounded:
        points may have many decimals). Two concurrent calls must never lose
        an update.
    """
    # TODO: let the server do the addition.
    raise NotImplementedError


def top_players(client: redis.Redis, board: str, n: int) -> list[tuple[str, float]]:
    """Return at most ``n`` ``(player, score)`` pairs of ``leaderboard:{board}``, highest first.

    Each pair is a tuple ``(str, float)``; ``n <= 0`` gives an empty list.
    """
    # TODO: read the sorted set from the top, with scores; count the range ends carefully.
    raise NotImplementedError


def claim_username(client: redis.Redis, username: str, user_id: int) -> bool:
    """Claim ``username`` for ``user_id``: key ``username:{username}`` holds the user id.

    Returns True only for the first claimant; never overwrites an existing claim,
    even when two callers try at the same moment. Errors from the server
    (``redis.ConnectionError``, ``redis.TimeoutError``) propagate: a dead server
    must never read as "name taken".
    """
    # TODO: check and write in one command.
    raise NotImplementedError


def count_hit(client: redis.Redis, page: str, window: int) -> int:
    """Count a hit on ``page`` in the counter ``hits:{page}``; return the count after it.

    The key expires ``window`` seconds after the first hit of its window: later
    hits do not push the expiry forward. When it has expired, counting starts over.
    """
    # TODO: increment the counter and give it an expiry on the first hit only (without
    # extending it later), both in one atomic step: if the process died between two
    # separate commands, the counter would be left without a TTL and never expire.
    raise NotImplementedError
