"""A second correct solution of exercise 3, written differently: token_hex ids, a Lua create,
two-step sliding read, WATCH/MULTI for field updates and rotation.

Kept as test data: the grader must accept it as well as the reference.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any, cast

import redis

_CREATE = """
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
"""


def create_session(client: redis.Redis, user_id: int, data: Mapping[str, str], ttl: int) -> str:
    """128-bit hex id; fields and TTL in one script."""
    sid = secrets.token_hex(16)
    args: list[Any] = [ttl]
    for field, value in {**data, "user_id": str(user_id)}.items():
        args += [field, value]
    client.register_script(_CREATE)(keys=[f"session:{sid}"], args=args)
    return sid


def get_session(client: redis.Redis, sid: str, ttl: int) -> dict[str, str] | None:
    """Read, then slide: EXPIRE never creates a key, so two steps are safe."""
    key = f"session:{sid}"
    fields = cast(dict[str, str], client.hgetall(key))
    if not fields:
        return None
    client.expire(key, ttl)
    return fields


def set_session_field(client: redis.Redis, sid: str, field: str, value: str) -> bool:
    """Optimistic locking: WATCH, check, MULTI, retry if it changed."""
    key = f"session:{sid}"
    with client.pipeline() as pipe:
        while True:
            try:
                pipe.watch(key)
                if not pipe.exists(key):
                    pipe.unwatch()
                    return False
                pipe.multi()
                pipe.hset(key, field, value)
                pipe.execute()
                return True
            except redis.WatchError:
                continue


def rotate_session(client: redis.Redis, sid: str, ttl: int) -> str | None:
    """WATCH the old id, copy it under MULTI, delete it; retry on interference."""
    old = f"session:{sid}"
    with client.pipeline() as pipe:
        while True:
            try:
                pipe.watch(old)
                fields = cast(dict[str, str], pipe.hgetall(old))
                if not fields:
                    pipe.unwatch()
                    return None
                new_sid = secrets.token_hex(16)
                pipe.multi()
                pipe.hset(f"session:{new_sid}", mapping=dict(fields.items()))
                pipe.expire(f"session:{new_sid}", ttl)
                pipe.delete(old)
                pipe.execute()
                return new_sid
            except redis.WatchError:
                continue


def destroy_session(client: redis.Redis, sid: str) -> bool:
    """UNLINK frees memory in the background."""
    return bool(client.unlink(f"session:{sid}"))
