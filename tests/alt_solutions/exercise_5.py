"""A second correct solution of exercise 5, written differently: a Lua fixed window,
a WATCH/MULTI sliding log and a token bucket fed the server's TIME read by a command
of their own (not inside the script).

Kept as test data: the grader must accept it as well as the reference.
"""

from __future__ import annotations

import math
import uuid

import redis

_FIXED = """
local count = redis.call('INCR', KEYS[1])
if redis.call('TTL', KEYS[1]) == -1 then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
end
return count
"""

_BUCKET = """
local cap, rate, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local n = tonumber(redis.call('HGET', KEYS[1], 'n') or cap)
local t = tonumber(redis.call('HGET', KEYS[1], 't') or now)
n = math.min(cap, n + math.max(0, now - t) * rate)
local ok = 0
if n >= 1 then n = n - 1; ok = 1 end
redis.call('HSET', KEYS[1], 'n', tostring(n), 't', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(cap / rate) + 1)
return ok
"""


def _server_now(client: redis.Redis) -> float:
    """The server's clock (TIME), the same for every application server."""
    secs, micros = client.time()
    return secs + micros / 1e6


def allow_fixed_window(client: redis.Redis, key: str, limit: int, window: int) -> bool:
    """INCR and EXPIRE-when-missing in one script."""
    count = client.register_script(_FIXED)(keys=[f"ratelimit:fixed:{key}"], args=[window])
    return int(count) <= limit


def allow_sliding_log(client: redis.Redis, key: str, limit: int, window: float) -> bool:
    """Optimistic locking: count under WATCH, write under MULTI, retry on interference."""
    log = f"ratelimit:log:{key}"
    with client.pipeline() as pipe:
        while True:
            try:
                pipe.watch(log)
                now = _server_now(pipe)
                if int(pipe.zcount(log, f"({now - window}", "+inf")) >= limit:
                    pipe.unwatch()
                    return False
                pipe.multi()
                pipe.zremrangebyscore(log, "-inf", now - window)
                pipe.zadd(log, {uuid.uuid4().hex: now})
                pipe.pexpire(log, math.ceil(window * 1000))
                pipe.execute()
                return True
            except redis.WatchError:
                continue


def allow_token_bucket(client: redis.Redis, key: str, capacity: int, refill_per_sec: float) -> bool:
    """Lua, with the server's time read just before and passed in."""
    script = client.register_script(_BUCKET)
    args = [capacity, refill_per_sec, repr(_server_now(client))]
    return script(keys=[f"ratelimit:bucket:{key}"], args=args) == 1
