-- Delete cache entries and remember how many, so a retried call gets the same answer.
-- KEYS[1..n-1] entry keys (one hash slot on a cluster); KEYS[n] the memo key.
-- ARGV[1] this call's random token, ARGV[2] the memo's lifetime in ms.
-- A retry (redis-py re-sends a command whose reply was lost) finds its own token
-- in the memo and returns the first run's count instead of 0.
local memo = KEYS[#KEYS]
local seen = redis.call('GET', memo)
if seen then
  local token, count = string.match(seen, '^(.-)|(%d+)$')
  if token == ARGV[1] then
    return tonumber(count)
  end
end
local deleted = 0
for i = 1, #KEYS - 1 do
  deleted = deleted + redis.call('DEL', KEYS[i])
end
redis.call('SET', memo, ARGV[1] .. '|' .. deleted, 'PX', ARGV[2])
return deleted
