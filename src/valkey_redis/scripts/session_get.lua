-- Read a session and slide its expiry, in one round trip; unknown ids create nothing.
-- KEYS[1] the session, KEYS[2] its bucket index. ARGV[1] TTL in ms, ARGV[2] the secret.
-- Returns the hash as a flat list of fields and values (empty when unknown or expired).
local fields = redis.call('HGETALL', KEYS[1])
if #fields == 0 then
  return fields
end
local ttl = tonumber(ARGV[1])
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('PEXPIRE', KEYS[1], ttl)
-- Keep the index entry's expiry in step, so pruning never drops a live session.
local user = redis.call('HGET', KEYS[1], 'user_id') or 'null'
redis.call('HSET', KEYS[2], ARGV[2], string.format('%d|%s', now_ms + ttl, user))
if redis.call('PTTL', KEYS[2]) < ttl then
  redis.call('PEXPIRE', KEYS[2], ttl)
end
return fields
