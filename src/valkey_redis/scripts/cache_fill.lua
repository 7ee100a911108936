-- Store a freshly loaded cache entry and release the loader's stampede lock.
-- KEYS[1] value key, KEYS[2] lock key (same hash tag, so one slot)
-- ARGV[1] encoded entry, ARGV[2] TTL in milliseconds, ARGV[3] lock token ("" = no lock)
-- The value and its TTL are set in one SET ... PX, so no key ever lacks a TTL.
-- The lock is deleted only if it still holds our token: if it expired and another
-- loader took over, its lock is left alone.
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if ARGV[3] ~= '' and redis.call('GET', KEYS[2]) == ARGV[3] then
  redis.call('DEL', KEYS[2])
end
return 1
