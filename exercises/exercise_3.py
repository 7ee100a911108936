"""Exercise 3 — sessions.

Before you start: read about sessions in docs/, run `make example-3`.
Then replace each `raise NotImplementedError` and run `make grade EX=3`.
Stuck? `make hint EX=3`. Solved? Compare with exercises/solutions/exercise_3.py.

A session is the hash `session:{sid}` holding the session's fields plus
`user_id`, with a TTL. `client` is a redis-py client with `decode_responses=True`.

Tasks:
1. create_session    — an unguessable id (>= 128 bits from `secrets`), fields, TTL.
2. get_session       — the fields, and the TTL slides back to `ttl`; None if unknown.
3. set_session_field — only for an existing session; creates nothing otherwise.
4. rotate_session    — a new id with the same fields; the old id gone.
5. destroy_session   — True if a session was removed.

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


def create_session(client: redis.Redis, user_id: int, data: Mapping[str, str], ttl: int) -> str:
    """Create a session for ``user_id`` holding ``data``; return its id.

    The id is unguessable: at least 128 random bits (16 bytes) from the ``secrets``
    module. The grader freezes the clock and seeds ``random``: an id computed from
    the time, the user id or ``random`` comes out the same twice, and fails.
    The hash ``session:{sid}`` holds ``data`` plus a ``user_id`` field, and
    expires after ``ttl`` seconds; it never exists without that TTL.
    """
    # TODO: make an id with the secrets module.
    # TODO: write the hash and its TTL together (one transaction).
    raise NotImplementedError


def get_session(client: redis.Redis, sid: str, ttl: int) -> dict[str, str] | None:
    """Return the fields of session ``sid`` and reset its TTL to ``ttl`` (sliding expiry).

    Reset means set: to ``ttl`` exactly, also when the TTL it had was longer
    (``EXPIRE`` without ``GT``).

    Returns None for an unknown or expired id (also when it expires while you
    read it: never an empty dict), and creates no key.
    """
    # TODO: read the fields and push the expiry back to ttl seconds.
    raise NotImplementedError


def set_session_field(client: redis.Redis, sid: str, field: str, value: str) -> bool:
    """Set ``field`` to ``value`` in session ``sid`` only if the session exists.

    Returns False (creating nothing) when it does not; its TTL stays set. The
    session may expire at any moment, including between two of your commands.
    """
    # TODO: write only if the session exists, atomically.
    raise NotImplementedError


def rotate_session(client: redis.Redis, sid: str, ttl: int) -> str | None:
    """Move session ``sid`` to a new id with the same fields and TTL ``ttl``.

    The old id is removed. Returns the new id (from ``secrets``, like
    :func:`create_session`), or None when ``sid`` is unknown.
    Two rotations of the same session at the same moment must not both succeed.
    The new id never lives longer than ``ttl``, even when your process dies
    midway (move and expire in one MULTI/EXEC or one script).
    """
    # TODO: make a new id; move the fields over and remove the old id, atomically.
    raise NotImplementedError


def destroy_session(client: redis.Redis, sid: str) -> bool:
    """Delete session ``sid``; return True if a session was removed.

    True only for the caller whose command removed it: of two callers destroying
    the same session at the same moment, one gets True, the other False.
    """
    # TODO: delete it and report whether anything was deleted.
    raise NotImplementedError
