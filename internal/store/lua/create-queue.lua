-- create-queue.lua: create a queue (its settings and its state) unless it exists.
--
-- KEYS[1]  queue config hash  waitroom:{<queue>}:config
-- KEYS[2]  queue state hash   waitroom:{<queue>}:state
-- KEYS[3]  ticket counter     waitroom:{<queue>}:counter
-- KEYS[4]  event stream       waitroom:{<queue>}:event-stream (docs/events.md)
-- ARGV[1]  doc: JSON of the descriptive settings (name, message, targetUrl, branding, times)
-- ARGV[2]  candidate epoch (a random id made by the caller)
-- ARGV[3]  S   ARGV[4]  I in ms   ARGV[5]  K   ARGV[6]  mode   ARGV[7]  opensAtMs (0 = none)
-- ARGV[8]  sharded pub/sub channel of the queue's state (SPUBLISH; same hash tag as the keys)
-- ARGV[9]  event stream length (MAXLEN ~)   ARGV[10]  queue id
-- ARGV[11] maxActive: the capacity cap (0 = none; docs/system.md, "Occupancy")
-- ARGV[12] length alert threshold (0 = none)   ARGV[13] length alert clearBelow (1 <= it < threshold; 0 with no threshold)
-- A creation appends one queue.created event; an adopted state (below) whose waiting count is
-- already at the length alert's threshold also appends queue.length_exceeded
-- (internal/queue/length-alert.ts).
--
-- Returns {1, version, epoch, windowEnd, nextDueMs, S, I, K, stateVersion, counter, nowMs, mode, opensAtMs, maxActive, originHold}
--           created; version (the ETag) is Redis's TIME in ms, so a queue deleted and created
--           again never repeats an ETag a client may still hold
--         {0, version}  the queue exists; nothing changed
-- A state without a config (Redis lost the config only, or a replica that had not yet heard
-- of a deletion re-created the state) is adopted with its epoch and counter, so tickets
-- already issued against it stay valid; the settings given here replace its rate settings.
-- S, I and K are checked against the state's bounds (the schema of the admin API is narrower).
-- Errors "WAITROOM_CORRUPT <what>" when an adopted state is damaged; "WAITROOM_ARG <what>" for a bad argument.
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
if not pcall(cjson.decode, ARGV[1]) then error({err = 'WAITROOM_ARG argument 1 is not JSON'}) end
local existing = redis.call('HGET', KEYS[1], 'version')
if existing then
  local v = int(existing, 1, MAX)
  if not v then return corrupt('queue config field version', existing) end
  return {0, v}
end
local S, I, K, opensAt = arg(3, 1, 1000000000), arg(4, 1, 604800000), arg(5, 1, 1000000), arg(7, 0, MAX)
local mode = ARGV[6]
if not MODES[mode] then error({err = 'WAITROOM_ARG argument 6 is not a queue state'}) end
local cap = arg(11, 0, 1000000000)
local alertAt, clearBelow = arg(12, 0, 1000000000), arg(13, 0, 1000000000)
if alertAt > 0 and (clearBelow < 1 or clearBelow >= alertAt) then error({err = 'WAITROOM_ARG argument 13 (clearBelow) is not in [1, threshold)'}) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local epoch, W, due, sv, counter
local fired = 0
if redis.call('EXISTS', KEYS[2]) == 1 then
  local f = redis.call('HMGET', KEYS[2], 'epoch', 'windowEnd', 'nextDueMs', 'version')
  local raw = redis.call('GET', KEYS[3])
  epoch, W, due, sv, counter = f[1], int(f[2], 0, MAX), int(f[3], 0, MAX), int(f[4], 1, MAX - 1), int(raw, 0, MAX)
  if type(epoch) ~= 'string' or #epoch == 0 or #epoch > 64 then return corrupt('queue state field epoch', f[1]) end
  if not W then return corrupt('queue state field windowEnd', f[2]) end
  if not due then return corrupt('queue state field nextDueMs', f[3]) end
  if not sv then return corrupt('queue state field version', f[4]) end
  if not counter then return corrupt('ticket counter', raw) end
  local rawFired = redis.call('HGET', KEYS[2], 'lengthAlertFired')
  fired = int(rawFired or '0', 0, 1)
  if not fired then return corrupt('queue state field lengthAlertFired', rawFired) end
  sv = sv + 1
  if opensAt > now then due = opensAt end
else
  local raw = redis.call('GET', KEYS[3])
  if raw then return corrupt('ticket counter without queue state, counter', raw) end
  -- As in ensure-queue.lua: W = S (first batch at once), or W = 0 until a pre-queue opens.
  epoch, W, due, sv, counter = ARGV[2], S, now + I, 1, 0
  -- With a cap the first batch goes through an advance (due now), which counts its places.
  if cap > 0 then W, due = 0, now end
  if opensAt > now then W, due = 0, opensAt end
  redis.call('HSET', KEYS[2], 'createdAtMs', now)
  redis.call('SET', KEYS[3], 0)
end
redis.call('HSET', KEYS[2], 'epoch', epoch, 'windowEnd', W, 'nextDueMs', due, 'windowSize', S, 'intervalMs', I,
  'activeWindowCount', K, 'version', sv, 'mode', mode, 'opensAtMs', opensAt, 'maxActive', cap, 'originHold', 0)
redis.call('HSET', KEYS[1], 'doc', ARGV[1], 'version', now)
redis.call('SPUBLISH', ARGV[8], cjson.encode({epoch = epoch, windowEnd = d(W), nextDueMs = d(due), windowSize = d(S),
  intervalMs = d(I), activeWindowCount = d(K), version = d(sv), counter = d(counter), nowMs = d(now), mode = mode,
  opensAtMs = d(opensAt), maxActive = d(cap), originHold = '0'}))
emit(KEYS[4], eventMax, 'queue.created', now, string.format(
  '{"queue":%s,"version":%d,"state":%s,"windowSize":%d,"intervalMs":%d,"activeWindowCount":%d,"opensAtMs":%d,"epoch":%s,"counter":%d,"windowEnd":%d,"settings":%s}',
  cjson.encode(queueId), now, cjson.encode(mode), S, I, K, opensAt, cjson.encode(epoch), counter, W, ARGV[1]))
redis.call('HSET', KEYS[2], 'lengthAlertThreshold', alertAt, 'lengthAlertClearBelow', clearBelow, 'lengthAlertFired', fired)
local waiting = math.max(0, counter - W)
if mode == 'passthrough' then waiting = 0 end
local step
if fired == 0 and alertAt > 0 and waiting >= alertAt then step = 'queue.length_exceeded'
elseif fired == 1 and (alertAt == 0 or waiting < clearBelow) then step = 'queue.length_recovered' end
if step then
  local body = string.format('{"queue":%s,"epoch":%s,"waiting":%d,"threshold":%d,"clearBelow":%d,"counter":%d,"windowEnd":%d',
    cjson.encode(queueId), cjson.encode(epoch), waiting, alertAt, clearBelow, counter, W)
  if step == 'queue.length_exceeded' then
    redis.call('HSET', KEYS[2], 'lengthAlertFired', 1)
    body = body .. '}'
  else
    redis.call('HSET', KEYS[2], 'lengthAlertFired', 0)
    if alertAt == 0 then body = body .. ',"reason":"alert_removed"}' else body = body .. ',"reason":"below_clear"}' end
  end
  emit(KEYS[4], eventMax, step, now, body)
end
return {1, now, epoch, W, due, S, I, K, sv, counter, now, mode, opensAt, cap, 0}
