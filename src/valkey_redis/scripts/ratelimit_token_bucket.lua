-- Token bucket: holds up to `limit` tokens, refilled continuously at `limit` per `window`;
-- a hit takes `cost` tokens. A missing key is a full bucket.
-- KEYS[1]  hash {tokens = tokens left (float), at = time of that count (us)}
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

local state = redis.call('HMGET', key, 'tokens', 'at')
local stored, at = tonumber(state[1]), tonumber(state[2])
if stored == nil or at == nil then
  stored, at = limit, now
end
-- Tokens at time t. A clock that steps back refills nothing.
local function level(t)
  if t <= at then return stored end
  return math.min(limit, stored + (t - at) * limit / window)
end
local tokens = level(now)

if tokens < cost then
  local retry = math.max(1, math.ceil((cost - tokens) * window / limit))
  -- Rounding may leave the bucket a hair short at that microsecond: then say one more.
  for _ = 1, 3 do
    if level(now + retry) >= cost then break end
    retry = retry + 1
  end
  return {0, math.floor(tokens), math.ceil((limit - tokens) * window / limit), retry}
end
if dry then
  return {1, math.floor(tokens), math.ceil((limit - tokens) * window / limit), 0}
end
tokens = tokens - cost
local reset = math.ceil((limit - tokens) * window / limit)
-- '%.17g' round-trips a double exactly; the default conversion keeps only 14 digits.
redis.call('HSET', key, 'tokens', string.format('%.17g', tokens),
           'at', string.format('%.0f', math.max(at, now)))
-- Once full again the bucket equals a missing key, so it may expire then.
redis.call('PEXPIRE', key, math.ceil(reset / 1000))
return {1, math.floor(tokens), reset, 0}
