-- claim-pass.lua: record the one pass of an active ticket, atomically per ticket.
-- Fifty simultaneous claims of one ticket run this script one after another: the first
-- stores its freshly signed pass, every later one sees it and follows the policy.
--
-- KEYS[1]  the ticket's claim   waitroom:{<queue>}:pass:<epoch>:<ticket>
-- KEYS[2]  live passes (zset)   waitroom:{<queue>}:passes
-- KEYS[3]  pass counters (hash) waitroom:{<queue>}:pass-stats
-- KEYS[4]  event stream         waitroom:{<queue>}:event-stream (docs/events.md)
-- KEYS[5]  queue state hash     waitroom:{<queue>}:state
-- KEYS[6]  occupancy (hash)     waitroom:{<queue>}:occupancy
-- KEYS[7]  claimed tickets (zset) waitroom:{<queue>}:claimed-tickets
-- KEYS[8]  gone bitmap of the ticket's epoch  waitroom:{<queue>}:gone:<epoch> (docs/system.md, "No-shows")
-- ARGV[1]  jti of the new pass          ARGV[2]  the new pass (compact JWT)
-- ARGV[3]  the new pass's exp, ms since the Unix epoch
-- ARGV[4]  claim TTL in ms: the ticket's remaining lifetime (after it, the ticket cannot claim)
-- ARGV[5]  policy: "same" or "refuse"
-- ARGV[6]  event stream length (MAXLEN ~)   ARGV[7]  queue id   ARGV[8]  the ticket's epoch   ARGV[9]  the ticket number
-- A new claim (reply 1) appends one pass.claimed event.
--
-- Returns {1, pass}  the new pass was stored and counted as claimed
--         {2, pass}  the ticket was claimed before and the policy is "same": the stored pass
--         {0}        the ticket was claimed before and the policy is "refuse"
--         {3}        the queue has a cap, the ticket's claim window closed, and every place
--                    is taken: nothing stored (HTTP 409 capacity_full)
--         {4}        the ticket's turn was skipped: it was marked gone when the window passed it
--                    (advance-window.lua with compensation); nothing stored (HTTP 409 ticket_skipped)
--
-- Occupancy (advance-window.lua explains the accounting): a ticket claimed inside its open
-- claim window already holds a place (counted in `pending`): the place moves to the live
-- passes, so occupancy does not change. A ticket claimed after its window closed (or one the
-- accounting never saw: the first batch of an epoch, admitted at creation) takes a new place,
-- which a queue with a cap grants only while occupancy < maxActive.
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
--#include checked-numbers
local expMs, ttl, ticket = arg(3, 0, MAX), arg(4, 1, MAX), arg(9, 1, MAX)
if ARGV[5] ~= 'same' and ARGV[5] ~= 'refuse' then error({err = 'WAITROOM_ARG argument 5 is not a claim policy'}) end

local existing = redis.call('GET', KEYS[1])
if existing then
  if ARGV[5] == 'same' then return {2, existing} end
  return {0}
end

local st = redis.call('HMGET', KEYS[5], 'epoch', 'windowEnd', 'maxActive', 'mode')
local a = redis.call('HMGET', KEYS[6], 'epoch', 'pending', 'openFrom')
local W, cap = int(st[2], 0, MAX), int(st[3] or '0', 0, 1000000000)
if st[1] and not W then return corrupt('queue state field windowEnd', st[2]) end
if not cap then return corrupt('queue state field maxActive', st[3]) end
-- A skipped ticket took no place and has none to claim: the replicas' copy of the bits can lag,
-- this check cannot.
if st[1] == ARGV[8] and W and ticket <= W and ticket <= 4294967295 and redis.call('GETBIT', KEYS[8], ticket) == 1 then return {4} end
local tracked = st[1] == ARGV[8] and a[1] == ARGV[8]
local pending, openFrom = 0, 0
if tracked then
  pending, openFrom = int(a[2], 0, MAX), int(a[3], 0, MAX)
  if not pending then return corrupt('occupancy field pending', a[2]) end
  if not openFrom then return corrupt('occupancy field openFrom', a[3]) end
end
if tracked and ticket >= openFrom and ticket <= W and not redis.call('ZSCORE', KEYS[7], ARGV[9]) then
  -- Its place moves from the admitted-unclaimed count to the live passes.
  if pending < 1 then return corrupt('occupancy field pending (a claim in an open window found none)', pending) end
  redis.call('ZADD', KEYS[7], ticket, ARGV[9])
  redis.call('HSET', KEYS[6], 'pending', pending - 1)
elseif cap > 0 and st[4] ~= 'passthrough' then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local live = redis.call('ZCOUNT', KEYS[2], '(' .. now, '+inf')
  if live + pending >= cap then return {3} end
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ttl)
redis.call('ZADD', KEYS[2], expMs, ARGV[1])
redis.call('HINCRBY', KEYS[3], 'claimed', 1)
local t = redis.call('TIME')
emit(KEYS[4], eventMax, 'pass.claimed', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), string.format(
  '{"queue":%s,"jti":%s,"epoch":%s,"ticket":%d,"expMs":%d}', cjson.encode(queueId), cjson.encode(ARGV[1]), cjson.encode(ARGV[8]), ticket, expMs))
return {1, ARGV[2]}
