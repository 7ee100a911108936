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

How the grader checks (every task): each return value must have exactly the
type of the signature (a tuple is not a list, an int is not a bool or a str).
Where a key has a TTL, it replays your function once per command k that it
sends: "your process dies right after command k", and "every key you touched
expired (or another client deleted it) right after command k". No key may ever
be left without its TTL, and the answer must stay right. One MULTI/EXEC, one
Lua script or one command like SET ... EX has no such gap.

Valkey 9's DELIFEQ and SET ... IFEQ are welcome for release and extend:
fakeredis lacks them, so a task that uses them is graded on Valkey only (the
report says so).
"""

from __future__ import annotations

import redis


def acquire_lock(client: redis.Redis, name: str, ttl_ms: int) -> str | None:
    """Try once to take ``lock:{name}`` for ``ttl_ms`` milliseconds.

    Returns:
        A new random token (the proof of ownership: at least 128 bits made
        only from ``secrets`` or ``uuid.uuid4()``, such as
        ``secrets.token_hex(16)``; not uuid1, the clock or a counter), or None
        when someone else holds the lock.
    """
    # TODO: make a random token; claim the key and set its expiry in one command.
    raise NotImplementedError


def release_lock(client: redis.Redis, name: str, token: str) -> bool:
    """Delete ``lock:{name}`` only if it holds ``token``; atomically.

    Returns False (leaving the lock untouched) when the lock is gone or owned by
    someone else. A change that leaves the lock yours (your own extend_lock at
    the same moment, say) must not make it fail: True, and the lock gone.
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

    Sleep between tries with ``time.sleep``, at most 0.1 s at a time and at most
    200 tries per second; give up (None) once ``timeout`` seconds have passed, no
    earlier and no more than one short sleep later. Measure time with the
    ``time`` module (``time.monotonic()``: the wall clock, ``time.time()``, can
    step back or forward), and read it: counting tries is not enough, since
    each command takes time too. The grader checks the waiting on a virtual
    clock that it puts in place of ``time`` in your module.

    Returns:
        The token once acquired, or None when ``timeout`` seconds have passed.
    """
    # TODO: loop: try to acquire; stop at the deadline; sleep a little between tries.
    raise NotImplementedError


def next_fencing_token(client: redis.Redis, name: str) -> int:
    """Return the next fencing token for ``name``: strictly increasing, counter ``fence:{name}``.

    The counter has no TTL: if it expired, tokens would start over and go backwards.
    """
    # TODO: one atomic server-side increment.
    raise NotImplementedError
