-- Move a session to a new id: same data, fresh TTL, old id gone, index updated.
-- KEYS[1] old session, KEYS[2] new session, KEYS[3] bucket index (one hash tag).
-- ARGV[1] TTL in ms, ARGV[2] old secret, ARGV[3] new secret.
-- Returns 1 if rotated, 0 if the old id is unknown or expired.
if redis.call('EXISTS', KEYS[1]) == 0 then
  -- A retried call whose first reply was lost finds its own new id (random, unique
  -- to this call) already in place: report success rather than "unknown".
  return redis.call('EXISTS', KEYS[2])
end
local ttl = tonumber(ARGV[1])
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('RENAME', KEYS[1], KEYS[2])
redis.call('PEXPIRE', KEYS[2], ttl)
local user = redis.call('HGET', KEYS[2], 'user_id') or 'null'
redis.call('HDEL', KEYS[3], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[3], string.format('%d|%s', now_ms + ttl, user))
if redis.call('PTTL', KEYS[3]) < ttl then
  redis.call('PEXPIRE', KEYS[3], ttl)
end
return 1
