-- Sliding window counter: the previous window's count, weighted by how much of it still
-- overlaps the sliding window, plus the current window's count. Two numbers per key.
-- KEYS[1]  hash {index = current window number, current = units, previous = units}
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

local state = redis.call('HMGET', key, 'index', 'current', 'previous')
local stored = tonumber(state[1])
-- The counts of window i and of the one before it, from the stored state.
local function counts(i)
  if stored == i then return tonumber(state[2]), tonumber(state[3]) end
  if stored == i - 1 then return 0, tonumber(state[2]) end  -- rolled over: current is previous
  return 0, 0
end
-- Units in use at time t: the previous window's count weighted by how much of it the
-- sliding window still covers, plus the current window's count.
local function used_at(t)
  local i = math.floor(t / window)
  local current, previous = counts(i)
  return previous * (window - (t - i * window)) / window + current
end

local index = math.floor(now / window)
local elapsed = now - index * window
local current, previous = counts(index)
local used = used_at(now)
local reset = 0
if current > 0 then
  reset = 2 * window - elapsed
elseif previous > 0 then
  reset = window - elapsed
end

if used + cost > limit then
  local retry
  if current + cost <= limit then
    -- Wait for the previous window's weight to shrink enough.
    retry = window * (1 - (limit - cost - current) / previous) - elapsed
  else
    -- Wait for the next window, where this window's count becomes the weighted one.
    retry = window - elapsed + window * math.max(0, 1 - (limit - cost) / current)
  end
  retry = math.max(1, math.ceil(retry))
  -- Rounding may leave it a hair over the limit at that microsecond: then say one more.
  for _ = 1, 3 do
    if used_at(now + retry) + cost <= limit then break end
    retry = retry + 1
  end
  return {0, math.max(0, math.floor(limit - used)), reset, retry}
end
if dry then
  return {1, math.floor(limit - used), reset, 0}
end
current = current + cost
redis.call('HSET', key, 'index', string.format('%.0f', index), 'current', current,
           'previous', previous)
if stored ~= index then
  -- First hit of this window: its count matters until the end of the next window.
  -- HSET keeps the TTL for the later hits.
  redis.call('PEXPIRE', key, math.ceil((2 * window - elapsed) / 1000))
end
return {1, math.max(0, math.floor(limit - used - cost)), 2 * window - elapsed, 0}
