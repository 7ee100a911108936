-- Append one write to a write-behind stream, unless its backlog is full; once per call.
-- KEYS[1] the stream; KEYS[2] this call's dedup key (same hash tag).
-- ARGV[1] max_len; ARGV[2] key; ARGV[3] JSON value; ARGV[4] dedup lifetime in ms.
-- Workers delete entries once applied, so XLEN is the backlog. Refusing here,
-- instead of XADD MAXLEN trimming, means a write is never silently dropped.
-- redis-py re-sends a command whose reply was lost: the retry finds the dedup key
-- (named after a random token chosen per submit) and returns the first entry's id
-- instead of appending the write a second time.
local seen = redis.call('GET', KEYS[2])
if seen then
  return seen
end
if redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[1]) then
  return redis.error_reply('WBFULL write-behind backlog is full')
end
local id = redis.call('XADD', KEYS[1], '*', 'k', ARGV[2], 'v', ARGV[3])
redis.call('SET', KEYS[2], id, 'PX', ARGV[4])
return id
