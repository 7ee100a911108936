-- GCRA (generic cell rate algorithm): one timestamp per key, the theoretical arrival time
-- (TAT). Each unit moves it one emission interval (window / limit) later; a hit is allowed
-- while the TAT stays within `limit` intervals of now, so a burst of `limit` passes.
-- KEYS[1]  string: the TAT in whole microseconds
-- ARGV     limit, window (us), cost; then, optional: dry ("1": report only, write nothing),
--          now (us; absent or "": the server's TIME)
-- Returns  {allowed (0/1), remaining, reset_after (us), retry_after (us)}
local key = KEYS[1]
local limit, window, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local dry = ARGV[4] == '1'
local now = tonumber(ARGV[5])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end

-- Whole microseconds keep every comparison exact (1/3 s is 333333 us, not 333333.33...).
local interval = math.floor(window / limit)
local capacity = interval * limit
local tat = tonumber(redis.call('GET', key)) or now
local debt = math.max(0, tat - now)  -- how far the TAT runs ahead of now
local remaining = math.max(0, math.floor((capacity - debt) / interval))

if debt + cost * interval > capacity then
  return {0, remaining, debt, debt + cost * interval - capacity}
end
if dry then
  return {1, remaining, debt, 0}
end
debt = debt + cost * interval
redis.call('SET', key, string.format('%.0f', now + debt), 'PX', math.ceil(debt / 1000))
return {1, math.floor((capacity - debt) / interval), debt, 0}
