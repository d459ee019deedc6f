-- pass-sweep.lua: retire expired passes, then read the counters and the revocation list.
-- A pass that expires without the site reporting it done counts as abandoned (and as
-- timedOut, so reports can tell the two apart). Any replica may run it: each expired
-- pass is removed, and so counted, exactly once.
--
-- KEYS[1]  live passes (zset)     waitroom:{<queue>}:passes
-- KEYS[2]  revoked passes (zset)  waitroom:{<queue>}:revoked-passes
-- KEYS[3]  pass counters (hash)   waitroom:{<queue>}:pass-stats
-- KEYS[4]  event stream           waitroom:{<queue>}:event-stream (docs/events.md)
-- ARGV[1]  "1" to return the revoked passes too, "0" for the counters only
-- ARGV[2]  event stream length (MAXLEN ~)   ARGV[3]  queue id
-- Each expired pass appends one pass.abandoned event (reason "timed_out").
--
-- Returns {claimed, completed, abandoned, timedOut, active, nowMs, jti1, exp1, jti2, exp2, ...}
--   active is the number of passes issued, unexpired and not done; the jti/exp pairs
--   (ms since the Unix epoch) are the revoked, unexpired passes.
-- --- events (docs/events.md) ---------------------------------------------------------
-- Appended to the queue's event stream in this same script, so an event exists if and only if
-- its change happened. Entry fields: type, time (ms, Redis TIME), body (JSON); the entry id is
-- the event's order. MAXLEN ~ lets Redis trim whole macro nodes (cheap).
local function emit(stream, maxlen, typ, nowMs, body)
  redis.call('XADD', stream, 'MAXLEN', '~', maxlen, '*', 'type', typ, 'time', string.format('%d', nowMs), 'body', body)
end
-- --- end events ------------------------------------------------------------------------
local function eventArgs(maxAt)
  local m = ARGV[maxAt]
  if type(m) ~= 'string' or not string.find(m, '^%d+$') or #m > 9 or tonumber(m) < 1 then
    error({err = 'WAITROOM_ARG argument ' .. maxAt .. ' (event stream length) is not an integer in [1, 999999999]'})
  end
  local q = ARGV[maxAt + 1]
  if type(q) ~= 'string' or #q == 0 or #q > 64 then error({err = 'WAITROOM_ARG argument ' .. (maxAt + 1) .. ' is not a queue id'}) end
  return m, q
end
local eventMax, queueId = eventArgs(2)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expired = redis.call('ZRANGE', KEYS[1], '-inf', now, 'BYSCORE', 'WITHSCORES')
for i = 1, #expired, 2 do
  emit(KEYS[4], eventMax, 'pass.abandoned', now, string.format('{"queue":%s,"jti":%s,"expMs":%d,"reason":"timed_out"}',
    cjson.encode(queueId), cjson.encode(expired[i]), tonumber(expired[i + 1])))
end
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
