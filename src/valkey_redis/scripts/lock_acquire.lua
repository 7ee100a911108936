-- Acquire a lock and hand out a fencing token, in one step.
-- KEYS[1] the lock, KEYS[2] its fencing counter (same hash tag, same slot).
-- ARGV[1] our random token, ARGV[2] lease in ms, ARGV[3] counter lifetime in ms.
-- Returns {1, fencing_token} when the lock is ours, {0, holder_pttl_ms} otherwise.
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  if redis.call('GET', KEYS[1]) == ARGV[1] then
    -- A retried call whose first reply was lost: the lock is already ours, and
    -- nobody could have taken a token since, so the counter's value is our token.
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return {1, tonumber(redis.call('GET', KEYS[2]) or '0')}
  end
  return {0, redis.call('PTTL', KEYS[1])}
end
-- token = max(counter + 1, server clock in microseconds). The clock floor keeps
-- tokens increasing where the counter alone would repeat or go back: after it
-- expired or was flushed, after a restart without persistence, and after a
-- failover to a replica that had not yet received the last increments (the new
-- primary's clock has moved on since the old one handed those tokens out).
-- Assumes the servers' clocks agree to better than the failover takes (NTP) and
-- do not step back; more than one acquisition per microsecond only uses the counter.
local now = redis.call('TIME')
local token = tonumber(now[1]) * 1000000 + tonumber(now[2])
-- The clock is written first (one command in the usual case); SET ... GET says
-- what the counter held, and a counter at or past the clock takes one more.
local last = tonumber(redis.call('SET', KEYS[2], string.format('%.0f', token), 'PX', ARGV[3], 'GET') or '0')
if last >= token then
  token = last + 1
  redis.call('SET', KEYS[2], string.format('%.0f', token), 'PX', ARGV[3])
end
return {1, token}
