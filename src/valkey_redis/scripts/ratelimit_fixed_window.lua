-- Fixed window: at most `limit` units per window; windows are aligned to the server clock.
-- KEYS[1]  hash: field = a window's number, value = the units allowed in that window
-- ARGV     limit, window (us), cost; then, optional: dry ("1": report only, write nothing),
--          now (us; absent or "": the server's TIME)
-- Returns  {allowed (0/1), remaining, reset_after (us), retry_after (us)}
-- The key expires when the window that created it ends.
local limit, window, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local now = tonumber(ARGV[5])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end

local index = math.floor(now / window)
local until_next = (index + 1) * window - now
-- Numbers go to redis.call as strings: Lua would print large ones as 1.7e+15.
local field = string.format('%.0f', index)

if ARGV[4] == '1' then
  local used = tonumber(redis.call('HGET', KEYS[1], field) or '0')
  if used + cost > limit then
    return {0, limit - used, until_next, until_next}
  end
  if used == 0 then until_next = 0 end
  return {1, limit - used, until_next, 0}
end

local used = redis.call('HINCRBY', KEYS[1], field, cost)
if used == cost then
  -- The window's first units: the key is new, or holds an older window's count.
  if redis.call('HLEN', KEYS[1]) > 1 then
    redis.call('DEL', KEYS[1])
    redis.call('HSET', KEYS[1], field, cost)
  end
  redis.call('PEXPIRE', KEYS[1], math.ceil(until_next / 1000))
end
if used > limit then
  -- Nothing frees up before the next window starts: the units go back.
  redis.call('HINCRBY', KEYS[1], field, -cost)
  return {0, limit - used + cost, until_next, until_next}
end
return {1, limit - used, until_next, 0}
