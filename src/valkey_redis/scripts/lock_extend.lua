-- Reset the lease of a lock we still own; never touch someone else's.
-- KEYS[1] the lock, KEYS[2] its fencing counter.
-- ARGV[1] our token, ARGV[2] new lease in ms, ARGV[3] counter lifetime in ms.
-- Returns 1 if extended, 0 if the lock is gone or held by someone else.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
-- Keep the counter alive at least as long as the lock it numbers.
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[3]) then
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
end
return 1
