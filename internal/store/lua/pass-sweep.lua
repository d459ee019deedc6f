-- pass-sweep.lua: retire expired passes, then read the counters and the revocation list.
-- A pass that expires without the site reporting it done counts as abandoned (and as
-- timedOut, so reports can tell the two apart). Any replica may run it: each expired
-- pass is removed, and so counted, exactly once.
--
-- KEYS[1]  live passes (zset)     waitroom:{<queue>}:passes
-- KEYS[2]  revoked passes (zset)  waitroom:{<queue>}:revoked-passes
-- KEYS[3]  pass counters (hash)   waitroom:{<queue>}:pass-stats
-- ARGV[1]  "1" to return the revoked passes too, "0" for the counters only
--
-- Returns {claimed, completed, abandoned, timedOut, active, nowMs, jti1, exp1, jti2, exp2, ...}
--   active is the number of passes issued, unexpired and not done; the jti/exp pairs
--   (ms since the Unix epoch) are the revoked, unexpired passes.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local timedOut = redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if timedOut > 0 then
  redis.call('HINCRBY', KEYS[3], 'abandoned', timedOut)
  redis.call('HINCRBY', KEYS[3], 'timedOut', timedOut)
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local c = redis.call('HMGET', KEYS[3], 'claimed', 'completed', 'abandoned', 'timedOut')
local r = {tonumber(c[1]) or 0, tonumber(c[2]) or 0, tonumber(c[3]) or 0, tonumber(c[4]) or 0, redis.call('ZCARD', KEYS[1]), now}
if ARGV[1] == '1' then
  local revoked = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
  for i = 1, #revoked do r[#r + 1] = revoked[i] end
end
return r
