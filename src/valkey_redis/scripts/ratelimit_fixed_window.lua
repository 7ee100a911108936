-- Fixed window: at most `limit` units per window; windows are aligned to the server clock.
-- KEYS[1]  hash {index = window number, used = units allowed in that window}
-- ARGV     limit, window (us), cost, dry ("1": report only, write nothing), now (us; "" = TIME)
-- Returns  {allowed (0/1), remaining, reset_after (us), retry_after (us)}
-- The key's TTL is only garbage collection: a stale hash from an older window reads as empty.
local limit, window, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local dry = ARGV[4] == '1'
local now = tonumber(ARGV[5])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end

local index = math.floor(now / window)
local until_next = (index + 1) * window - now
local state = redis.call('HMGET', KEYS[1], 'index', 'used')
local used = 0
if tonumber(state[1]) == index then
  used = tonumber(state[2])
end

if used + cost > limit then
  -- Nothing frees up before the next window starts.
  return {0, limit - used, until_next, until_next}
end
if dry then
  if used == 0 then until_next = 0 end
  return {1, limit - used, until_next, 0}
end
-- Numbers go to redis.call as strings: Lua would print large ones as 1.7e+15.
redis.call('HSET', KEYS[1], 'index', string.format('%.0f', index), 'used', used + cost)
if used == 0 then
  -- First hit of this window: expire with it. HSET keeps the TTL for the later hits.
  redis.call('PEXPIRE', KEYS[1], math.ceil(until_next / 1000))
end
return {1, limit - used - cost, until_next, 0}
