"""A WRONG solution of exercise 3, kept as test data for the grader.

The mistake: HGETALL, then a MULTI that writes the copy and deletes the old id, without
WATCH.
The grader must fail it with the check named in EXPECTED_FAILURE.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import cast

import redis

from valkey_redis.keys import join

EXPECTED_FAILURE = "rotate_session lets only one of two racing rotations succeed"

# Lua runs atomically on the server: nothing can expire or delete the session
# between the EXISTS check and the write. Fixed text, data only in KEYS/ARGV.
_SET_FIELD = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
"""

_ROTATE = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('RENAME', KEYS[1], KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[1])
return 1
"""


def _key(sid: str) -> str:
    return join("session", sid)


def _new_id() -> str:
    # 32 random bytes from the OS CSPRNG = 256 bits, URL-safe text. Never
    # `random` (predictable) and not uuid4 (122 random bits).
    return secrets.token_urlsafe(32)


def create_session(client: redis.Redis, user_id: int, data: Mapping[str, str], ttl: int) -> str:
    """Create a session holding ``data`` plus ``user_id``; return its id."""
    sid = _new_id()
    key = _key(sid)
    fields = [*data.items(), ("user_id", str(user_id))]  # user_id last: it wins over data's
    # MULTI: HSET and EXPIRE together, so the session never exists without a TTL.
    with client.pipeline(transaction=True) as pipe:
        pipe.hset(key, mapping=dict(fields))
        pipe.expire(key, ttl)
        pipe.execute()
    return sid


def get_session(client: redis.Redis, sid: str, ttl: int) -> dict[str, str] | None:
    """Return the session's fields and slide its TTL back to ``ttl``; None if unknown."""
    key = _key(sid)
    with client.pipeline(transaction=True) as pipe:
        pipe.hgetall(key)
        pipe.expire(key, ttl)  # EXPIRE on a missing key does nothing: nothing is created
        fields, _ = pipe.execute()
    return cast(dict[str, str], fields) or None


def set_session_field(client: redis.Redis, sid: str, field: str, value: str) -> bool:
    """Set one field of an existing session; False (and no write) when it is gone."""
    # A plain HSET on an expired session would create a new hash without a TTL.
    script = client.register_script(_SET_FIELD)
    return bool(script(keys=[_key(sid)], args=[field, value]))


def rotate_session(client: redis.Redis, sid: str, ttl: int) -> str | None:
    """Reads outside the transaction: two rotations can both copy the session."""
    fields = cast(dict[str, str], client.hgetall(_key(sid)))
    if not fields:
        return None
    new_sid = _new_id()
    with client.pipeline(transaction=True) as pipe:
        pipe.hset(_key(new_sid), mapping=dict(fields.items()))
        pipe.expire(_key(new_sid), ttl)
        pipe.delete(_key(sid))
        pipe.execute()
    return new_sid


def destroy_session(client: redis.Redis, sid: str) -> bool:
    """Delete the session; True if one was removed."""
    return client.delete(_key(sid)) == 1
