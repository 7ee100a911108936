-- Compare-and-delete, for servers without DELIFEQ (Valkey < 9, Redis, fakeredis).
-- KEYS[1] the lock; ARGV[1] our token. Returns 1 if we deleted our lock, else 0.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
