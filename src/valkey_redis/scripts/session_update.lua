-- Set fields of an existing session; an unknown or expired id is left absent.
-- KEYS[1] the session. ARGV field, value pairs. Returns 1 if updated, 0 if no such session.
-- HSET keeps the key's TTL, so the session still expires.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
