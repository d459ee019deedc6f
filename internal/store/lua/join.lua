-- join.lua: issue n consecutive tickets in one atomic step.
-- Joins that reach one replica together share one call (internal/service/ticket-batcher.ts),
-- so n tickets cost one round trip; the caller hands them out in arrival order.
--
-- KEYS[1]  queue state hash   waitroom:{<queue>}:state
-- KEYS[2]  ticket counter     waitroom:{<queue>}:counter
-- KEYS[3]  event stream       waitroom:{<queue>}:event-stream (docs/events.md)
-- KEYS[4..3+n]  with the join limit on (ARGV[9] > 0): one token bucket per join, in arrival order
--               waitroom:{<queue>}:limit:join:<address> (lib/token-bucket.lua; rate-limit.lua
--               takes from the same buckets)
-- ARGV[1]  n, tickets wanted (1 to 100000)
-- ARGV[2]  sharded pub/sub channel of the queue's state (SPUBLISH, same hash tag; see below)
-- ARGV[3]  the caller's high-water mark: epoch it last saw ('' when it saw none)
-- ARGV[4]  ... highest counter  ARGV[5]  ... highest W  ARGV[6]  ... highest version, seen in that epoch
-- ARGV[7]  event stream length (MAXLEN ~)   ARGV[8]  queue id (for the event body)
-- ARGV[9]  join limit burst: 0 = no limit here; else an integer from 1 to 1e9, and KEYS holds n buckets
-- ARGV[10] join limit rate, tokens per second (read only when ARGV[9] > 0)
-- ARGV[11..] epochs the caller saw replaced
--
-- Returns {last, epoch, windowEnd, nextDueMs, S, I, K, version, nowMs, mode, opensAtMs, maxActive, originHold}: the
--   tickets are last-n+1 .. last, all of the returned epoch.
-- With the join limit on, the same 13 fields and then one group of four per join, in order:
--   {allowed, remaining, retryAfterMs, fullInMs} (rate-limit.lua's reply); only the a joins allowed
--   get tickets, last-a+1 .. last in their order (a may be 0: then last is the counter, unchanged).
--   The buckets are taken after every early return below, so a reply of {0}, {-1} or {-4} has
--   taken no token and the caller's retry cannot take a second one.
--
-- Why the limit is here (docs/benchmarks.md, "The join limit"): a join that takes its token in
-- its own rate-limit.lua call pays a second round trip and a second event-loop turn; measured
-- on a quiet 2-core machine that was ~20 us of a ~48 us join.
-- Returns {0} when the queue state is missing (the caller then runs ensure-queue.lua, which
--   creates a new epoch, and tries again).
-- Returns {-1, reason} when the state went backwards (the same tests and reasons as
--   ensure-queue.lua): nothing is issued; the caller runs ensure-queue.lua with the same
--   high-water mark, which starts a new epoch, and tries again.
-- Returns {-4} when the queue is closed: no ticket is issued (HTTP 410 queue_closed).
-- Errors "WAITROOM_CORRUPT <what>" when the state is partially missing or a field is not a
-- valid integer in range (or mode is not a known state): INCRBY on a missing counter would
-- silently restart numbering at 1, and a number computed from 'nan' or a negative counter
-- is a place nobody can honour.
--
-- Queue length alert (docs/events.md; internal/queue/length-alert.ts): when the waiting count
-- (counter - W; 0 in passthrough) reaches lengthAlertThreshold and the alert has not fired
-- (lengthAlertFired ~= 1), it fires here: lengthAlertFired = 1 and one queue.length_exceeded.
-- A join only raises the count, so it never re-arms the alert (advance-window.lua and
-- update-queue.lua do). Cost on the hot path: three more fields in the HMGET it already makes;
-- the HSET and XADD run once per crossing.
--
-- When this batch is the first to wait (the counter crosses W), the new counter is published
-- once on the state channel: the leader's ticker sleeps while nobody waits (an idle queue costs
-- no Redis calls) and wakes on that message instead of polling.
--#include token-bucket
--#include checked-numbers
local MODES = {open = true, paused = true, passthrough = true, closed = true}
local n = arg(1, 1, 100000)
local seenCounter, seenW, seenVersion = arg(4, 0, MAX), arg(5, 0, MAX), arg(6, 0, MAX)
local eventMax = ARGV[7]
if type(eventMax) ~= 'string' or not string.find(eventMax, '^%d+$') or #eventMax > 9 or tonumber(eventMax) < 1 then
  error({err = 'WAITROOM_ARG argument 7 (event stream length) is not an integer in [1, 999999999]'})
end
local queueId = ARGV[8]
if type(queueId) ~= 'string' or #queueId == 0 or #queueId > 64 then error({err = 'WAITROOM_ARG argument 8 is not a queue id'}) end
local limited = arg(9, 0, 1000000000) > 0
local burst, rate
if limited then
  local bad
  burst, rate, bad = bucketLimits(ARGV[9], ARGV[10])
  if bad then error({err = 'WAITROOM_ARG ' .. bad}) end
  if #KEYS ~= 3 + n then error({err = 'WAITROOM_ARG the join limit needs one bucket key per ticket wanted'}) end
end

if redis.call('EXISTS', KEYS[1]) == 0 then return {0} end
local f = redis.call('HMGET', KEYS[1], 'epoch', 'windowEnd', 'nextDueMs', 'windowSize', 'intervalMs', 'activeWindowCount', 'version', 'mode', 'opensAtMs', 'maxActive', 'originHold', 'lengthAlertThreshold', 'lengthAlertFired', 'lengthAlertClearBelow')
if type(f[1]) ~= 'string' or #f[1] == 0 or #f[1] > 64 then return corrupt('queue state field epoch', f[1]) end
local W, due = int(f[2], 0, MAX), int(f[3], 0, MAX)
local S, I, K, version = int(f[4], 1, 1000000000), int(f[5], 1, 604800000), int(f[6], 1, 1000000), int(f[7], 1, MAX)
-- A state written before queue states existed has neither field: open, no opening time.
local mode, opensAt = f[8] or 'open', int(f[9] or '0', 0, MAX)
if not W then return corrupt('queue state field windowEnd', f[2]) end
if not due then return corrupt('queue state field nextDueMs', f[3]) end
if not S then return corrupt('queue state field windowSize', f[4]) end
if not I then return corrupt('queue state field intervalMs', f[5]) end
if not K then return corrupt('queue state field activeWindowCount', f[6]) end
if not version then return corrupt('queue state field version', f[7]) end
if not MODES[mode] then return corrupt('queue state field mode', f[8]) end
if not opensAt then return corrupt('queue state field opensAtMs', f[9]) end
local cap = int(f[10] or '0', 0, 1000000000)
if not cap then return corrupt('queue state field maxActive', f[10]) end
local hold = int(f[11] or '0', 0, 1)
if not hold then return corrupt('queue state field originHold', f[11]) end
local alertAt = int(f[12] or '0', 0, 1000000000)
if not alertAt then return corrupt('queue state field lengthAlertThreshold', f[12]) end
local fired = int(f[13] or '0', 0, 1)
if not fired then return corrupt('queue state field lengthAlertFired', f[13]) end
local clearBelow = int(f[14] or '0', 0, 1000000000)
if not clearBelow then return corrupt('queue state field lengthAlertClearBelow', f[14]) end
local raw = redis.call('GET', KEYS[2])
local counter = int(raw, 0, MAX - n)
if not counter then return corrupt('ticket counter', raw) end

for i = 11, #ARGV do
  if ARGV[i] == f[1] then return {-1, 'retired_epoch'} end
end
if W > counter + S then return {-1, 'window_above_counter'} end
if ARGV[3] == f[1] then
  if counter < seenCounter then return {-1, 'counter_below_seen'} end
  if W < seenW then return {-1, 'window_below_seen'} end
  if version < seenVersion then return {-1, 'version_below_seen'} end
end
if mode == 'closed' then return {-4} end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local verdicts = {}
if limited then
  local allowedCount = 0
  for i = 1, n do
    local allowed, remaining, retry, fullIn = takeBucket(KEYS[3 + i], burst, rate, now)
    allowedCount = allowedCount + allowed
    verdicts[#verdicts + 1] = allowed
    verdicts[#verdicts + 1] = remaining
    verdicts[#verdicts + 1] = retry
    verdicts[#verdicts + 1] = fullIn
  end
  n = allowedCount
end
local last = counter
if n > 0 then last = redis.call('INCRBY', KEYS[2], n) end
if n > 0 and last - n <= W and last > W then
  -- Numbers travel as decimal strings: cjson writes numbers with 14 significant digits, which
  -- could round a large counter up and make a replica believe it saw more than was issued.
  local function d(x) return string.format('%d', x) end
  redis.call('SPUBLISH', ARGV[2], cjson.encode({epoch = f[1], windowEnd = d(W), nextDueMs = d(due), windowSize = d(S),
    intervalMs = d(I), activeWindowCount = d(K), version = d(version), counter = d(last), nowMs = d(now), mode = mode,
    opensAtMs = d(opensAt), maxActive = d(cap), originHold = d(hold)}))
end
if n > 0 and alertAt > 0 and fired == 0 and mode ~= 'passthrough' and last - W >= alertAt then
  redis.call('HSET', KEYS[1], 'lengthAlertFired', 1)
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', eventMax, '*', 'type', 'queue.length_exceeded', 'time', string.format('%d', now), 'body',
    string.format('{"queue":%s,"epoch":%s,"waiting":%d,"threshold":%d,"clearBelow":%d,"counter":%d,"windowEnd":%d}',
      cjson.encode(queueId), cjson.encode(f[1]), last - W, alertAt, clearBelow, last, W))
end
local out = {last, f[1], W, due, S, I, K, version, now, mode, opensAt, cap, hold}
for i = 1, #verdicts do out[#out + 1] = verdicts[i] end
return out
