-- Delete sessions and their index entries. KEYS[1] the bucket index, KEYS[2..] sessions
-- of that bucket; ARGV[i] is the secret of KEYS[i + 1]. Returns how many sessions existed.
local removed = 0
for i = 2, #KEYS do
  removed = removed + redis.call('DEL', KEYS[i])
  redis.call('HDEL', KEYS[1], ARGV[i - 1])
end
return removed
