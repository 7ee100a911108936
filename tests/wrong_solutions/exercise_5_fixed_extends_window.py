"""A WRONG solution of exercise 5, kept as test data for the grader.

The mistake: EXPIRE on every request: a steady client keeps the window open and stays
blocked.
The grader must fail it with the check named in EXPECTED_FAILURE.
"""

from __future__ import annotations

import secrets

import redis

from valkey_redis.keys import join

EXPECTED_FAILURE = "allow_fixed_window does not extend the window on later hits"

# Drop entries older than the window, count what is left, and record this request
# only if it is allowed. In one script: two callers cannot both see "one slot left".
# TIME is the server's clock, the same for every client.
_SLIDING_LOG = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000))
  return 1
end
return 0
"""

# Refill lazily: tokens = min(capacity, tokens + elapsed * rate), then take one.
_BUCKET_LUA = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or capacity
local ts = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - ts) * rate)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate * 1000) + 1000)
return allowed
"""


def allow_fixed_window(client: redis.Redis, key: str, limit: int, window: int) -> bool:
    """Allow at most ``limit`` requests per ``window`` seconds (fixed window)."""
    counter = join("ratelimit", "fixed", key)
    with client.pipeline(transaction=True) as pipe:
        pipe.incr(counter)  # atomic: concurrent requests each get their own number
        # NX: set an expiry only when there is none. The window starts at the first
        # hit, later hits do not extend it, and a counter somehow left without a
        # TTL gets one (with "EXPIRE only when the count is 1" it never would).
        pipe.expire(counter, window)
        count, _ = pipe.execute()
    return int(count) <= limit  # the limit-th request is still allowed


def allow_sliding_log(client: redis.Redis, key: str, limit: int, window: float) -> bool:
    """Allow iff fewer than ``limit`` requests were allowed in the last ``window`` s."""
    script = client.register_script(_SLIDING_LOG)
    member = secrets.token_hex(8)  # unique, so two requests in the same microsecond both count
    allowed = script(keys=[join("ratelimit", "log", key)], args=[limit, window, member])
    return bool(allowed)


def allow_token_bucket(client: redis.Redis, key: str, capacity: int, refill_per_sec: float) -> bool:
    """Take one token from the bucket (starting full, refilling continuously)."""
    script = client.register_script(_BUCKET_LUA)
    allowed = script(keys=[join("ratelimit", "bucket", key)], args=[capacity, refill_per_sec])
    return bool(allowed)
