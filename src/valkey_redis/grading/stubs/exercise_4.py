"""Exercise 4 — distributed lock.

Before you start: read about locks in docs/, run `make example-5`.
Then replace each `raise NotImplementedError` and run `make grade EX=4`.
Stuck? `make hint EX=4`. Solved? Compare with exercises/solutions/exercise_4.py.

A lock is the key `lock:{name}` holding the owner's random token, with an
expiry in milliseconds. `client` is a redis-py client with `decode_responses=True`.

Tasks:
1. acquire_lock          — SET NX PX with a random token; None when held by someone else.
2. release_lock          — delete only when the token matches, atomically.
3. extend_lock           — reset the TTL only for the owner.
4. acquire_lock_blocking — retry with short sleeps until acquired or `timeout` passed.
5. next_fencing_token    — strictly increasing per name, counter `fence:{name}`.
"""

from __future__ import annotations

import redis


def acquire_lock(client: redis.Redis, name: str, ttl_ms: int) -> str | None:
    """Try once to take ``lock:{name}`` for ``ttl_ms`` milliseconds.

    Returns:
        A new random token (the proof of ownership), or None when someone else
        holds the lock.
    """
    # TODO: make a random token; claim the key and set its expiry in one command.
    raise NotImplementedError


def release_lock(client: redis.Redis, name: str, token: str) -> bool:
    """Delete ``lock:{name}`` only if it holds ``token``; atomically.

    Returns False (leaving the lock untouched) when the lock is gone or owned by
    someone else.
    """
    # TODO: compare and delete in one atomic step.
    raise NotImplementedError


def extend_lock(client: redis.Redis, name: str, token: str, ttl_ms: int) -> bool:
    """Reset the TTL of ``lock:{name}`` to ``ttl_ms`` only if it holds ``token``."""
    # TODO: compare and extend in one atomic step.
    raise NotImplementedError


def acquire_lock_blocking(
    client: redis.Redis, name: str, ttl_ms: int, timeout: float
) -> str | None:
    """Like :func:`acquire_lock`, but retry with short sleeps for up to ``timeout`` seconds.

    Returns:
        The token once acquired, or None when ``timeout`` seconds have passed.
    """
    # TODO: loop: try to acquire; stop at the deadline; sleep a little between tries.
    raise NotImplementedError


def next_fencing_token(client: redis.Redis, name: str) -> int:
    """Return the next fencing token for ``name``: strictly increasing, counter ``fence:{name}``."""
    # TODO: one atomic server-side increment.
    raise NotImplementedError
