-- Acquire a lock and hand out a fencing token, in one step.
-- KEYS[1] the lock, KEYS[2] its fencing counter (same hash tag, same slot).
-- ARGV[1] our random token, ARGV[2] lease in ms, ARGV[3] counter lifetime in ms.
-- Returns {1, fencing_token} when the lock is ours, {0, holder_pttl_ms} otherwise.
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  -- A retried call whose first reply was lost: the lock is already ours, and
  -- nobody could have incremented the counter since, so its value is our token.
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return {1, tonumber(redis.call('GET', KEYS[2]) or '0')}
end
if holder then
  return {0, redis.call('PTTL', KEYS[1])}
end
if redis.call('EXISTS', KEYS[2]) == 0 then
  -- Seed a missing counter with the server clock in microseconds: tokens keep
  -- increasing even after an idle counter expired (or was flushed).
  local now = redis.call('TIME')
  redis.call('SET', KEYS[2], now[1] .. string.format('%06d', tonumber(now[2])))
end
local token = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[3])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {1, token}
