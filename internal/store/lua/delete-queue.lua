-- delete-queue.lua: remove a queue: its settings, state, counter, lease, pass records and flow samples.
--
-- KEYS[1]  queue config hash   KEYS[2]  queue state hash   KEYS[3]  ticket counter
-- KEYS[4]  leader lease        KEYS[5]  live passes        KEYS[6]  revoked passes
-- KEYS[7]  pass counters       KEYS[8]  event stream (kept: it ends with queue.deleted)
-- KEYS[9]  flow samples per second   KEYS[10] flow samples per minute
-- KEYS[11] occupancy hash      KEYS[12] claim windows      KEYS[13] claimed tickets
-- ARGV[1]  expected config version, or "" to delete whatever it is
-- ARGV[2]  event stream length (MAXLEN ~)   ARGV[3]  queue id
-- Errors "WAITROOM_CORRUPT <what>" when the stored version is damaged; "WAITROOM_ARG" for a bad ARGV[1].
--
-- Returns {1, version}  deleted (version is the one it had)
--         {-1}          no such queue
--         {-2, version} the queue changed since the caller read it (HTTP 412)
-- Per-ticket claim records expire by their own TTL. Its tickets are refused from then on
-- (410 queue_closed): every replica drops the queue when the registry says so.
-- Versions are checked as every number a script reads (see ensure-queue.lua): plain decimal
-- integers; a damaged version is refused, never deleted through.
--#include checked-numbers
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
local raw = redis.call('HGET', KEYS[1], 'version')
if not raw then return {-1} end
local version = int(raw, 1, MAX)
if not version then return redis.error_reply('WAITROOM_CORRUPT queue config field version is "' .. raw .. '"') end
if ARGV[1] ~= '' then
  local expected = int(ARGV[1], 0, MAX)
  if not expected then return redis.error_reply('WAITROOM_ARG argument 1 is not an integer in [0, ' .. MAX .. ']') end
  if expected ~= version then return {-2, version} end
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[9], KEYS[10], KEYS[11], KEYS[12], KEYS[13])
local t = redis.call('TIME')
emit(KEYS[8], eventMax, 'queue.deleted', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000),
  string.format('{"queue":%s,"version":%d}', cjson.encode(queueId), version))
return {1, version}
