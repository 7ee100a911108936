"""A WRONG solution of exercise 4, kept as test data for the grader.

The mistake: release_lock deletes the key without checking the token.
The grader must fail it with the check named in EXPECTED_FAILURE.
"""

from __future__ import annotations

import random
import secrets
import time

import redis

from valkey_redis.keys import join

EXPECTED_FAILURE = "release_lock refuses a token that is not the owner's"

# GET and DEL/PEXPIRE in one script: with GET from Python then DEL, the lock can
# expire and be taken by someone else in between, and we would delete theirs.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

_EXTEND = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""


def acquire_lock(client: redis.Redis, name: str, ttl_ms: int) -> str | None:
    """Try once to take ``lock:{name}`` for ``ttl_ms`` ms; return the token or None."""
    token = secrets.token_hex(16)  # unique per acquisition: it proves ownership later
    # NX: only if free; PX: with its expiry, atomically, so a crashed holder
    # cannot block everyone forever.
    if client.set(join("lock", name), token, nx=True, px=ttl_ms):
        return token
    return None


def release_lock(client: redis.Redis, name: str, token: str) -> bool:
    """Deletes whatever lock is there, even someone else's."""
    return client.delete(join("lock", name)) == 1


def extend_lock(client: redis.Redis, name: str, token: str, ttl_ms: int) -> bool:
    """Reset the lock's TTL to ``ttl_ms`` only if ``token`` still owns it."""
    script = client.register_script(_EXTEND)
    return bool(script(keys=[join("lock", name)], args=[token, ttl_ms]))


def acquire_lock_blocking(
    client: redis.Redis, name: str, ttl_ms: int, timeout: float
) -> str | None:
    """Retry :func:`acquire_lock` with short sleeps for up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout  # monotonic: immune to wall-clock jumps
    while True:
        token = acquire_lock(client, name, ttl_ms)
        if token is not None:
            return token
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        # Short, jittered sleeps: waiters do not retry in lockstep, and we never
        # busy-spin on the server.
        time.sleep(min(remaining, random.uniform(0.005, 0.02)))


def next_fencing_token(client: redis.Redis, name: str) -> int:
    """Return the next fencing token for ``name`` (strictly increasing)."""
    # INCR is atomic, so no two callers get the same number. No TTL on purpose:
    # if the counter expired it would restart at 1 and go backwards.
    return client.incr(join("fence", name))
