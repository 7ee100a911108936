"""A second correct solution of exercise 6, written differently: uuid tokens, WATCH release,
backoff while waiting, an error after `wait`, and XFetch rearranged.

Kept as test data: the grader must accept it as well as the reference.
"""

from __future__ import annotations

import math
import random
import time
import uuid
from collections.abc import Callable

import redis


def _release(client: redis.Redis, lock_key: str, token: str) -> None:
    with client.pipeline() as pipe:
        try:
            pipe.watch(lock_key)
            if pipe.get(lock_key) == token:
                pipe.multi()
                pipe.delete(lock_key)
                pipe.execute()
            else:
                pipe.unwatch()
        except redis.WatchError:
            pass  # it changed hands meanwhile: not ours any more


def get_or_compute(  # noqa: PLR0917 - the signature is part of the task
    client: redis.Redis,
    key: str,
    compute: Callable[[], str],
    ttl: int,
    lock_ttl_ms: int = 5000,
    wait: float = 5.0,
) -> str:
    """Lock with a uuid; waiters back off from 5 ms to 50 ms; give up after `wait`."""
    lock_key = f"lock:{key}"
    give_up = time.monotonic() + wait
    pause = 0.005
    while True:
        value = client.get(key)
        if isinstance(value, str):
            return value
        token = str(uuid.uuid4())
        if client.set(lock_key, token, nx=True, px=lock_ttl_ms):
            try:
                value = client.get(key)
                if not isinstance(value, str):
                    value = compute()
                    client.set(key, value, ex=ttl)
                return value
            finally:
                _release(client, lock_key, token)
        if time.monotonic() > give_up:
            msg = f"no value for {key!r} after {wait} s"
            raise TimeoutError(msg)
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


def should_refresh_early(
    remaining_ttl: float,
    delta: float,
    beta: float = 1.0,
    rand: Callable[[], float] = random.random,
) -> bool:
    """The same inequality multiplied by -1."""
    draw = rand()
    return draw == 0.0 or math.log(draw) * delta * beta <= -remaining_ttl
