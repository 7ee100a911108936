-- Append one write to a write-behind stream, unless its backlog is full.
-- KEYS[1] the stream; ARGV[1] max_len; ARGV[2] key; ARGV[3] JSON value.
-- Workers delete entries once applied, so XLEN is the backlog. Refusing here,
-- instead of XADD MAXLEN trimming, means a write is never silently dropped.
if redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[1]) then
  return redis.error_reply('WBFULL write-behind backlog is full')
end
return redis.call('XADD', KEYS[1], '*', 'k', ARGV[2], 'v', ARGV[3])
