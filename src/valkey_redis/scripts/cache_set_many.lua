-- Store many cache entries in one command, each with its own TTL.
-- KEYS[i] value key i; ARGV[2i-1] its encoded entry, ARGV[2i] its TTL in milliseconds.
-- One SET ... PX per entry, so no key ever lacks a TTL, and the whole batch is one
-- round trip and one atomic step (a reader sees none or all of it).
-- All KEYS must hash to one slot on a cluster; the caller groups them.
for i, key in ipairs(KEYS) do
  redis.call('SET', key, ARGV[2 * i - 1], 'PX', ARGV[2 * i])
end
return #KEYS
