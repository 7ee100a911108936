-- Delete sessions and their index entries. KEYS[1] the bucket index, KEYS[2..] sessions
-- of that bucket; ARGV[1] this call's random token, ARGV[i + 1] the secret of KEYS[i + 1].
-- Returns how many sessions existed.
-- A destroyed session's index entry becomes a tombstone "0|destroyed:<token>" (pruned
-- by the next create, as an expired entry), so redis-py's retry of this very call,
-- after a lost reply, still counts the sessions its first run removed.
local tomb = '0|destroyed:' .. ARGV[1]
local index_exists = redis.call('EXISTS', KEYS[1]) == 1
local removed = 0
for i = 2, #KEYS do
  local secret = ARGV[i]
  local existed = redis.call('DEL', KEYS[i])
  if existed == 0 and redis.call('HGET', KEYS[1], secret) == tomb then
    existed = 1
  end
  removed = removed + existed
  if existed == 1 and index_exists then
    redis.call('HSET', KEYS[1], secret, tomb)  -- HSET keeps the index's TTL
  else
    redis.call('HDEL', KEYS[1], secret)
  end
end
return removed
