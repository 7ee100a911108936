-- Read and delete a tag's index set in one step, so a member added concurrently
-- is either returned here or lands in a fresh set; it is never silently dropped.
-- KEYS[1] tag set. Returns the members (full cache keys).
local members = redis.call('SMEMBERS', KEYS[1])
redis.call('DEL', KEYS[1])
return members
