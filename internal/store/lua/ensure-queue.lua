-- ensure-queue.lua: create a queue's state if it is missing, start a new epoch if the store
-- went backwards, then return it. Called at start, by every periodic refresh, after a join
-- found no state and after a join or an advance found the store behind what was seen.
--
-- KEYS[1]  queue state hash   waitroom:{<queue>}:state
-- KEYS[2]  ticket counter     waitroom:{<queue>}:counter
-- KEYS[3]  event stream       waitroom:{<queue>}:event-stream (docs/events.md)
-- ARGV[1]  candidate epoch: a random id made by the caller, used only if this call creates the state
-- ARGV[2]  S, window size          ARGV[3]  I, window interval in ms
-- ARGV[4]  K, active window count  ARGV[5]  mode (open|paused|passthrough|closed)
-- ARGV[6]  opensAtMs: a pre-queue opens then (0 for none)
--          ARGV[2..7] are used only when the state is missing: a state re-created after a
--          rollback keeps the stored settings, which the admin API set.
-- ARGV[7]  maxActive: the capacity cap, 0 for none (used only when the state is missing, as above)
-- ARGV[8]  the caller's high-water mark: epoch it last saw ('' when it saw none)
-- ARGV[9]  ... highest counter  ARGV[10]  ... highest W  ARGV[11]  ... highest version, seen in that epoch
-- ARGV[12] event stream length (MAXLEN ~)   ARGV[13] queue id (for the event body)
-- ARGV[14] length alert threshold   ARGV[15] ... clearBelow (0 0 = none; used only when the
--          state is missing, as ARGV[2..7]: a new epoch after a rollback keeps the stored ones)
-- ARGV[16..] epochs the caller saw replaced (they can only come back in a restored copy)
--
-- Returns {created, epoch, windowEnd, nextDueMs, S, I, K, version, counter, nowMs, reason, mode, opensAtMs, maxActive, originHold}
--   created 0: the state exists and is sound (reason '')
--   created 1: the state was missing (Redis lost it) and this call made a new epoch (reason 'missing')
--   created 2: the state went backwards (reason says how) and this call made a new epoch:
--     'retired_epoch'        the stored epoch is one the caller saw replaced
--     'window_above_counter' W > counter + S, which no sequence of joins and advances produces
--     'counter_below_seen' / 'window_below_seen' / 'version_below_seen' in the caller's epoch
--   A new epoch (created 1 or 2) appends one queue.epoch_started (reason: 'missing' or the
--   rollback reason; previousEpoch: the replaced epoch, null when the state was missing): every
--   ticket of the old epoch is void and numbering restarts at 1. The new state's length alert is
--   armed (waiting 0); when the replaced state's alert had fired, a queue.length_recovered
--   (reason 'new_epoch') follows, so every queue.length_exceeded gets its recovery. A missing
--   state leaves nothing to know whether it had fired: none then.
--   A new epoch's version is one above every version the caller or the store knew, so the
--   version of a queue never decreases as long as one replica remembers it.
-- Errors "WAITROOM_CORRUPT <what>" when the state is partially missing or a field is not a
-- valid integer in range (or mode is not a known state); "WAITROOM_ARG <what>" for a bad
-- argument. A damaged state is never reset: a counter set back to 0 would issue every ticket again.
--#include checked-numbers
local MODES = {open = true, paused = true, passthrough = true, closed = true}
local S, I, K, opensAt = arg(2, 1, 1000000000), arg(3, 1, 604800000), arg(4, 1, 1000000), arg(6, 0, MAX)
local mode = ARGV[5]
if not MODES[mode] then error({err = 'WAITROOM_ARG argument 5 is not a queue state'}) end
local cap = arg(7, 0, 1000000000)
local seenCounter, seenW, seenVersion = arg(9, 0, MAX), arg(10, 0, MAX), arg(11, 0, MAX)
local eventMax = ARGV[12]
if type(eventMax) ~= 'string' or not string.find(eventMax, '^%d+$') or #eventMax > 9 or tonumber(eventMax) < 1 then
  error({err = 'WAITROOM_ARG argument 12 (event stream length) is not an integer in [1, 999999999]'})
end
local queueId = ARGV[13]
if type(queueId) ~= 'string' or #queueId == 0 or #queueId > 64 then error({err = 'WAITROOM_ARG argument 13 is not a queue id'}) end
local alertAt, clearBelow = arg(14, 0, 1000000000), arg(15, 0, 1000000000)
if alertAt > 0 and (clearBelow < 1 or clearBelow >= alertAt) then error({err = 'WAITROOM_ARG argument 15 (clearBelow) is not in [1, threshold)'}) end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rawCounter = redis.call('GET', KEYS[2])

local function create(version, created, reason, cS, cI, cK, cMode, cOpensAt, cCap, cAlert, cClear, oldEpoch, oldFired)
  -- W starts at S: the first batch is admitted at once; the second after one interval.
  -- A pre-queue (opensAt in the future) admits nobody before it opens, then the first batch at opensAt.
  local W, due = cS, now + cI
  -- With a cap the first batch goes through an advance (due now), which counts its places.
  if cCap > 0 then W, due = 0, now end
  if cOpensAt > now then W, due = 0, cOpensAt end
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'epoch', ARGV[1], 'windowEnd', W, 'nextDueMs', due,
    'windowSize', cS, 'intervalMs', cI, 'activeWindowCount', cK, 'version', version, 'createdAtMs', now,
    'mode', cMode, 'opensAtMs', cOpensAt, 'maxActive', cCap,
    'lengthAlertThreshold', cAlert, 'lengthAlertClearBelow', cClear, 'lengthAlertFired', 0)
  redis.call('SET', KEYS[2], 0)
  local function emit(typ, body)
    redis.call('XADD', KEYS[3], 'MAXLEN', '~', eventMax, '*', 'type', typ, 'time', string.format('%d', now), 'body', body)
  end
  emit('queue.epoch_started', string.format(
    '{"queue":%s,"epoch":%s,"previousEpoch":%s,"reason":"%s","version":%d,"state":%s,"counter":0,"windowEnd":%d}',
    cjson.encode(queueId), cjson.encode(ARGV[1]), oldEpoch and cjson.encode(oldEpoch) or 'null', reason, version, cjson.encode(cMode), W))
  if oldFired == 1 then
    emit('queue.length_recovered', string.format(
      '{"queue":%s,"epoch":%s,"waiting":0,"threshold":%d,"clearBelow":%d,"counter":0,"windowEnd":%d,"reason":"new_epoch"}',
      cjson.encode(queueId), cjson.encode(ARGV[1]), cAlert, cClear, W))
  end
  return {created, ARGV[1], W, due, cS, cI, cK, version, 0, now, reason, cMode, cOpensAt, cCap, 0}
end

if redis.call('EXISTS', KEYS[1]) == 0 then
  if rawCounter then return corrupt('ticket counter without queue state, counter', rawCounter) end
  return create(seenVersion + 1, 1, 'missing', S, I, K, mode, opensAt, cap, alertAt, clearBelow, nil, 0)
end
local f = redis.call('HMGET', KEYS[1], 'epoch', 'windowEnd', 'nextDueMs', 'windowSize', 'intervalMs', 'activeWindowCount', 'version', 'mode', 'opensAtMs', 'maxActive', 'originHold')
if type(f[1]) ~= 'string' or #f[1] == 0 or #f[1] > 64 then return corrupt('queue state field epoch', f[1]) end
local W, due = int(f[2], 0, MAX), int(f[3], 0, MAX)
local sS, sI, sK, version = int(f[4], 1, 1000000000), int(f[5], 1, 604800000), int(f[6], 1, 1000000), int(f[7], 1, MAX)
-- A state written before queue states existed has neither field: open, no opening time.
local sMode, sOpensAt = f[8] or 'open', int(f[9] or '0', 0, MAX)
if not W then return corrupt('queue state field windowEnd', f[2]) end
if not due then return corrupt('queue state field nextDueMs', f[3]) end
if not sS then return corrupt('queue state field windowSize', f[4]) end
if not sI then return corrupt('queue state field intervalMs', f[5]) end
if not sK then return corrupt('queue state field activeWindowCount', f[6]) end
if not version then return corrupt('queue state field version', f[7]) end
if not MODES[sMode] then return corrupt('queue state field mode', f[8]) end
if not sOpensAt then return corrupt('queue state field opensAtMs', f[9]) end
local sCap = int(f[10] or '0', 0, 1000000000)
if not sCap then return corrupt('queue state field maxActive', f[10]) end
local sHold = int(f[11] or '0', 0, 1)
if not sHold then return corrupt('queue state field originHold', f[11]) end
local counter = int(rawCounter, 0, MAX)
if not counter then return corrupt('ticket counter', rawCounter) end

-- The store went backwards (a crash that lost the last writes, a failover to a lagging
-- replica, a restored backup, a hand edit): numbers above the stored counter may already
-- be held by visitors, so this epoch can never issue a ticket again.
local reason
for i = 16, #ARGV do
  if ARGV[i] == f[1] then reason = 'retired_epoch' end
end
if not reason and W > counter + sS then reason = 'window_above_counter' end
if not reason and ARGV[8] == f[1] then
  if counter < seenCounter then reason = 'counter_below_seen'
  elseif W < seenW then reason = 'window_below_seen'
  elseif version < seenVersion then reason = 'version_below_seen' end
end
if reason then
  local la = redis.call('HMGET', KEYS[1], 'lengthAlertThreshold', 'lengthAlertClearBelow', 'lengthAlertFired')
  local sAlert, sClear, sFired = int(la[1] or '0', 0, 1000000000), int(la[2] or '0', 0, 1000000000), int(la[3] or '0', 0, 1)
  if not sAlert then return corrupt('queue state field lengthAlertThreshold', la[1]) end
  if not sClear then return corrupt('queue state field lengthAlertClearBelow', la[2]) end
  if not sFired then return corrupt('queue state field lengthAlertFired', la[3]) end
  return create(math.max(version, seenVersion) + 1, 2, reason, sS, sI, sK, sMode, sOpensAt, sCap, sAlert, sClear, f[1], sFired)
end
return {0, f[1], W, due, sS, sI, sK, version, counter, now, '', sMode, sOpensAt, sCap, sHold}
