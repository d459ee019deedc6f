-- pass-done.lua: the protected site reports a visitor's session over; the pass is revoked.
-- Counting and revoking in one step means a pass is counted once however often the site
-- retries, and a counted pass is always refused by the gate.
--
-- KEYS[1]  live passes (zset)     waitroom:{<queue>}:passes
-- KEYS[2]  revoked passes (zset)  waitroom:{<queue>}:revoked-passes
-- KEYS[3]  pass counters (hash)   waitroom:{<queue>}:pass-stats
-- KEYS[4]  event stream           waitroom:{<queue>}:event-stream (docs/events.md)
-- ARGV[1]  jti     ARGV[2]  outcome: "completed" or "abandoned"
-- ARGV[3]  sharded pub/sub channel the revocation is announced on (SPUBLISH, same hash tag;
--          every replica's gate listens)
-- ARGV[4]  event stream length (MAXLEN ~)   ARGV[5]  queue id
-- Marking done (reply 1) appends pass.completed or pass.abandoned, then pass.revoked.
--
-- Returns {1, expMs}  marked done now: counted under the outcome, revoked, announced
--         {2, expMs}  it was already done (nothing changed)
--         {0}         unknown: never issued, or expired and already swept
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
local eventMax, queueId = eventArgs(4)
if ARGV[2] ~= 'completed' and ARGV[2] ~= 'abandoned' then error({err = 'WAITROOM_ARG argument 2 is not completed or abandoned'}) end
local exp = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not exp then
  local done = redis.call('ZSCORE', KEYS[2], ARGV[1])
  if done then return {2, done} end
  return {0}
end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZADD', KEYS[2], exp, ARGV[1])
redis.call('HINCRBY', KEYS[3], ARGV[2], 1)
redis.call('SPUBLISH', ARGV[3], ARGV[1] .. ' ' .. exp)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local body = string.format('{"queue":%s,"jti":%s,"expMs":%d,"reason":"reported"}', cjson.encode(queueId), cjson.encode(ARGV[1]), tonumber(exp))
emit(KEYS[4], eventMax, 'pass.' .. ARGV[2], now, body)
emit(KEYS[4], eventMax, 'pass.revoked', now, body)
return {1, exp}
