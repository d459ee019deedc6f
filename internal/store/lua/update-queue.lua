-- update-queue.lua: change a queue's settings, checked against the version the caller read.
--
-- KEYS[1]  queue config hash  waitroom:{<queue>}:config
-- KEYS[2]  queue state hash   waitroom:{<queue>}:state
-- KEYS[3]  ticket counter     waitroom:{<queue>}:counter
-- KEYS[4]  event stream       waitroom:{<queue>}:event-stream (docs/events.md)
-- ARGV[1]  expected config version (the ETag the change was made against)
-- ARGV[2]  doc: the new descriptive settings (JSON)
-- ARGV[3]  S   ARGV[4]  I in ms   ARGV[5]  K   ARGV[6]  mode   ARGV[7]  opensAtMs (0 = none)
-- ARGV[8]  sharded pub/sub channel of the queue's state (SPUBLISH; same hash tag as the keys)
-- ARGV[9]  event stream length (MAXLEN ~)   ARGV[10]  queue id
-- ARGV[11] the change as JSON: {field: {before, after}} (the caller read the version it names)
-- ARGV[12] maxActive: the capacity cap (0 = none; docs/system.md, "Occupancy")
-- ARGV[13] length alert threshold (0 = none)   ARGV[14] length alert clearBelow (1 <= it < threshold; 0 with no threshold)
-- An update appends queue.updated; a new mode also queue.state_changed; a window moved by a
-- passthrough transition also window.advanced (reason "passthrough"); then, when the new
-- waiting count (0 in passthrough) or the new thresholds cross the length alert
-- (internal/queue/length-alert.ts), queue.length_exceeded (fired) or queue.length_recovered
-- (re-armed: reason "below_clear", or "alert_removed" when the threshold was removed).
--
-- Returns {1, version, epoch, windowEnd, nextDueMs, S, I, K, stateVersion, counter, nowMs, mode, opensAtMs, maxActive, originHold}
--         {-1}           no such queue
--         {-2, version}  the queue changed since the caller read it (HTTP 412)
--
-- Transitions (docs/system.md, "Queue states"):
--   into or out of passthrough  W = max(W, counter): everyone who joined meanwhile stays admitted
--   paused/closed/passthrough -> open   the first advance is due one interval after the resume
--   open, I changed             a shorter I pulls the next advance in to now + I; a longer one
--                               applies from the next advance (an advance already due stays due)
--   opensAt set in the future   the next advance is at opensAt exactly (a pre-queue)
--   opensAt moved to now or before while the queue had not opened   it opens now
-- S and K apply from the next advance. Every change bumps the state version and publishes the
-- new state, so every replica's cache (and its visitors' ETAs) follows within one message.
-- S, I and K are checked against the state's bounds (the schema of the admin API is narrower).
-- Errors "WAITROOM_CORRUPT <what>" when the stored config or state is damaged (nothing is
-- written then); "WAITROOM_ARG <what>" for a bad argument.
--#include checked-numbers
local MODES = {open = true, paused = true, passthrough = true, closed = true}
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
-- Numbers travel as decimal strings: cjson writes numbers with 14 significant digits.
local function d(x) return string.format('%d', x) end
local eventMax, queueId = eventArgs(9)
if not pcall(cjson.decode, ARGV[11]) then error({err = 'WAITROOM_ARG argument 11 is not JSON'}) end
local rawVersion = redis.call('HGET', KEYS[1], 'version')
if not rawVersion then return {-1} end
local version = int(rawVersion, 1, MAX - 1)
if not version then return corrupt('queue config field version', rawVersion) end
if arg(1, 0, MAX) ~= version then return {-2, version} end
local S, I, K, opensAt = arg(3, 1, 1000000000), arg(4, 1, 604800000), arg(5, 1, 1000000), arg(7, 0, MAX)
local mode = ARGV[6]
if not MODES[mode] then error({err = 'WAITROOM_ARG argument 6 is not a queue state'}) end
local cap = arg(12, 0, 1000000000)
local alertAt, clearBelow = arg(13, 0, 1000000000), arg(14, 0, 1000000000)
if alertAt > 0 and (clearBelow < 1 or clearBelow >= alertAt) then error({err = 'WAITROOM_ARG argument 14 (clearBelow) is not in [1, threshold)'}) end
local rawFired = redis.call('HGET', KEYS[2], 'lengthAlertFired')
local fired = int(rawFired or '0', 0, 1)
if not fired then return corrupt('queue state field lengthAlertFired', rawFired) end
local f = redis.call('HMGET', KEYS[2], 'epoch', 'windowEnd', 'nextDueMs', 'version', 'intervalMs', 'mode', 'opensAtMs', 'originHold')
local raw = redis.call('GET', KEYS[3])
local W, due, sv, oldI = int(f[2], 0, MAX), int(f[3], 0, MAX), int(f[4], 1, MAX - 1), int(f[5], 1, 604800000)
local counter = int(raw, 0, MAX)
-- A state written before queue states existed has neither field: open, no opening time.
local oldMode, oldOpensAt = f[6] or 'open', int(f[7] or '0', 0, MAX)
if type(f[1]) ~= 'string' or #f[1] == 0 or #f[1] > 64 then return corrupt('queue state field epoch', f[1]) end
if not W then return corrupt('queue state field windowEnd', f[2]) end
if not due then return corrupt('queue state field nextDueMs', f[3]) end
if not sv then return corrupt('queue state field version', f[4]) end
if not oldI then return corrupt('queue state field intervalMs', f[5]) end
if not MODES[oldMode] then return corrupt('queue state field mode', f[6]) end
if not oldOpensAt then return corrupt('queue state field opensAtMs', f[7]) end
if not counter then return corrupt('ticket counter', raw) end
local hold = int(f[8] or '0', 0, 1)
if not hold then return corrupt('queue state field originHold', f[8]) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local oldW = W
if mode == 'passthrough' or oldMode == 'passthrough' then W = math.max(W, counter) end
if mode == 'open' then
  if oldMode ~= 'open' then
    due = now + I
  elseif I < oldI and due > now + I then
    due = now + I
  end
end
if opensAt > now then
  due = opensAt
elseif oldOpensAt > now and mode == 'open' then
  due = now
end
version = version + 1
sv = sv + 1
redis.call('HSET', KEYS[2], 'windowEnd', W, 'nextDueMs', due, 'windowSize', S, 'intervalMs', I,
  'activeWindowCount', K, 'version', sv, 'mode', mode, 'opensAtMs', opensAt, 'maxActive', cap)
redis.call('HSET', KEYS[1], 'doc', ARGV[2], 'version', version)
redis.call('SPUBLISH', ARGV[8], cjson.encode({epoch = f[1], windowEnd = d(W), nextDueMs = d(due), windowSize = d(S),
  intervalMs = d(I), activeWindowCount = d(K), version = d(sv), counter = d(counter), nowMs = d(now), mode = mode,
  opensAtMs = d(opensAt), maxActive = d(cap), originHold = d(hold)}))
emit(KEYS[4], eventMax, 'queue.updated', now, string.format('{"queue":%s,"version":%d,"changes":%s}', cjson.encode(queueId), version, ARGV[11]))
if mode ~= oldMode then
  emit(KEYS[4], eventMax, 'queue.state_changed', now, string.format('{"queue":%s,"from":%s,"to":%s,"counter":%d,"windowEnd":%d}',
    cjson.encode(queueId), cjson.encode(oldMode), cjson.encode(mode), counter, W))
end
if W > oldW then
  emit(KEYS[4], eventMax, 'window.advanced', now, string.format(
    '{"queue":%s,"epoch":%s,"fromTicket":%d,"toTicket":%d,"counter":%d,"windowSize":%d,"lagMs":0,"reason":"passthrough"}',
    cjson.encode(queueId), cjson.encode(f[1]), oldW + 1, W, counter, S))
end
redis.call('HSET', KEYS[2], 'lengthAlertThreshold', alertAt, 'lengthAlertClearBelow', clearBelow)
local waiting = math.max(0, counter - W)
if mode == 'passthrough' then waiting = 0 end
local step
if fired == 0 and alertAt > 0 and waiting >= alertAt then step = 'queue.length_exceeded'
elseif fired == 1 and (alertAt == 0 or waiting < clearBelow) then step = 'queue.length_recovered' end
if step then
  local body = string.format('{"queue":%s,"epoch":%s,"waiting":%d,"threshold":%d,"clearBelow":%d,"counter":%d,"windowEnd":%d',
    cjson.encode(queueId), cjson.encode(f[1]), waiting, alertAt, clearBelow, counter, W)
  if step == 'queue.length_exceeded' then
    redis.call('HSET', KEYS[2], 'lengthAlertFired', 1)
    body = body .. '}'
  else
    redis.call('HSET', KEYS[2], 'lengthAlertFired', 0)
    if alertAt == 0 then body = body .. ',"reason":"alert_removed"}' else body = body .. ',"reason":"below_clear"}' end
  end
  emit(KEYS[4], eventMax, step, now, body)
end
return {1, version, f[1], W, due, S, I, K, sv, counter, now, mode, opensAt, cap, hold}
