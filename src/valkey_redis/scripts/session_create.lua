-- Create a session hash and record it in its bucket's index, atomically.
-- KEYS[1] the session, KEYS[2] the bucket index (same hash tag, same slot).
-- ARGV[1] TTL in ms, ARGV[2] the session's secret, ARGV[3] user_id as JSON,
-- ARGV[4..] field, value pairs. Index entries are "<expires_at_ms>|<user_id JSON>".
local ttl = tonumber(ARGV[1])
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
-- Drop index entries of sessions that have expired, so the index cannot grow forever.
local entries = redis.call('HGETALL', KEYS[2])
for i = 1, #entries, 2 do
  local expires = tonumber(string.match(entries[i + 1], '^(%d+)|'))
  if expires == nil or expires <= now_ms then
    redis.call('HDEL', KEYS[2], entries[i])
  end
end
redis.call('HSET', KEYS[1], 'user_id', ARGV[3], unpack(ARGV, 4))
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('HSET', KEYS[2], ARGV[2], string.format('%d|%s', now_ms + ttl, ARGV[3]))
-- The index must outlive every session it lists.
if redis.call('PTTL', KEYS[2]) < ttl then
  redis.call('PEXPIRE', KEYS[2], ttl)
end
return 1
