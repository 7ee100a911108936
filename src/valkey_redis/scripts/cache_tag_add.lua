-- Add a cache key to a tag's index set and make the set outlive its members.
-- KEYS[1] tag set; ARGV[1] member (a full cache key), ARGV[2] member TTL in ms.
-- The TTL only ever grows (PTTL is -1 right after SADD creates the set), so the
-- index never expires before the longest-lived entry it lists.
redis.call('SADD', KEYS[1], ARGV[1])
local ttl = tonumber(ARGV[2])
if redis.call('PTTL', KEYS[1]) < ttl then
  redis.call('PEXPIRE', KEYS[1], ttl)
end
return 1
