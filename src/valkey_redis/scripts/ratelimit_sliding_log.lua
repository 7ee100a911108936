-- Sliding log: at most `limit` units in any `window`; one sorted-set entry per unit allowed.
-- KEYS[1]  sorted set: member "time:n", score = the time (us) the unit was allowed
-- ARGV     limit, window (us), cost; then, optional: dry ("1": report only, write nothing),
--          now (us; absent or "": the server's TIME)
-- Returns  {allowed (0/1), remaining, reset_after (us), retry_after (us)}
-- Denied hits are not logged, so a client hammering while refused does not extend its ban.
local key = KEYS[1]
local limit, window, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local dry = ARGV[4] == '1'
local now = tonumber(ARGV[5])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end

-- If the server clock stepped back, keep time monotonic for this log (and its member names unique).
local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
local newest = tonumber(last[2])
if newest and newest > now then now = newest end

-- An entry allowed at time s counts while now < s + window.
local cutoff = string.format('%.0f', now - window)
local used = redis.call('ZCOUNT', key, '(' .. cutoff, '+inf')
local reset = 0
if newest and newest + window > now then reset = newest + window - now end

if used + cost > limit then
  -- Wait until enough of the oldest entries have left the window.
  local freeing = redis.call('ZRANGEBYSCORE', key, '(' .. cutoff, '+inf', 'WITHSCORES',
                             'LIMIT', used + cost - limit - 1, 1)
  return {0, limit - used, reset, tonumber(freeing[2]) + window - now}
end
if dry then
  return {1, limit - used, reset, 0}
end
redis.call('ZREMRANGEBYSCORE', key, '-inf', cutoff)
local stamp = string.format('%.0f', now)
for i = 1, cost do
  -- "time:n" with n past the count in the window: unique even for two hits in the same microsecond.
  redis.call('ZADD', key, stamp, stamp .. ':' .. (used + i))
end
redis.call('PEXPIRE', key, math.ceil(window / 1000))
return {1, limit - used - cost, window, 0}
