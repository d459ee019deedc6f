-- claim-pass.lua: record the one pass of an active ticket, atomically per ticket.
-- Fifty simultaneous claims of one ticket run this script one after another: the first
-- stores its freshly signed pass, every later one sees it and follows the policy.
--
-- KEYS[1]  the ticket's claim   waitroom:{<queue>}:pass:<epoch>:<ticket>
-- KEYS[2]  live passes (zset)   waitroom:{<queue>}:passes
-- KEYS[3]  pass counters (hash) waitroom:{<queue>}:pass-stats
-- KEYS[4]  event stream         waitroom:{<queue>}:event-stream (docs/events.md)
-- ARGV[1]  jti of the new pass          ARGV[2]  the new pass (compact JWT)
-- ARGV[3]  the new pass's exp, ms since the Unix epoch
-- ARGV[4]  claim TTL in ms: the ticket's remaining lifetime (after it, the ticket cannot claim)
-- ARGV[5]  policy: "same" or "refuse"
-- ARGV[6]  event stream length (MAXLEN ~)   ARGV[7]  queue id   ARGV[8]  epoch   ARGV[9]  ticket
-- A new claim (reply 1) appends one pass.claimed event.
--
-- Returns {1, pass}  the new pass was stored and counted as claimed
--         {2, pass}  the ticket was claimed before and the policy is "same": the stored pass
--         {0}        the ticket was claimed before and the policy is "refuse"
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
local eventMax, queueId = eventArgs(6)
local function num(i)
  local v = ARGV[i]
  if type(v) ~= 'string' or #v > 16 or not string.find(v, '^%d+$') then error({err = 'WAITROOM_ARG argument ' .. i .. ' is not an integer'}) end
  return tonumber(v)
end
local expMs, ticket = num(3), num(9)
local existing = redis.call('GET', KEYS[1])
if existing then
  if ARGV[5] == 'same' then return {2, existing} end
  return {0}
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', tonumber(ARGV[4]))
redis.call('ZADD', KEYS[2], tonumber(ARGV[3]), ARGV[1])
redis.call('HINCRBY', KEYS[3], 'claimed', 1)
local t = redis.call('TIME')
emit(KEYS[4], eventMax, 'pass.claimed', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), string.format(
  '{"queue":%s,"jti":%s,"epoch":%s,"ticket":%d,"expMs":%d}', cjson.encode(queueId), cjson.encode(ARGV[1]), cjson.encode(ARGV[8]), ticket, expMs))
return {1, ARGV[2]}
