-- ensure-queue.lua: create a queue's state if it is missing, start a new epoch if the store
-- went backwards, then return it. Called at start, by every periodic refresh, after a join
-- found no state and after a join or an advance found the store behind what was seen.
--
-- KEYS[1]  queue state hash   waitroom:{<queue>}:state
-- KEYS[2]  ticket counter     waitroom:{<queue>}:counter
-- ARGV[1]  candidate epoch: a random id made by the caller, used only if this call creates the state
-- ARGV[2]  S, window size          ARGV[3]  I, window interval in ms
-- ARGV[4]  K, active window count  ARGV[5]  mode (open|paused|passthrough|closed)
-- ARGV[6]  opensAtMs: a pre-queue opens then (0 for none)
--          ARGV[2..6] are used only when the state is missing: a state re-created after a
--          rollback keeps the stored settings, which the admin API set.
-- ARGV[7]  the caller's high-water mark: epoch it last saw ('' when it saw none)
-- ARGV[8]  ... highest counter  ARGV[9]  ... highest W  ARGV[10]  ... highest version, seen in that epoch
-- ARGV[11..] epochs the caller saw replaced (they can only come back in a restored copy)
--
-- Returns {created, epoch, windowEnd, nextDueMs, S, I, K, version, counter, nowMs, reason, mode, opensAtMs}
--   created 0: the state exists and is sound (reason '')
--   created 1: the state was missing (Redis lost it) and this call made a new epoch (reason 'missing')
--   created 2: the state went backwards (reason says how) and this call made a new epoch:
--     'retired_epoch'        the stored epoch is one the caller saw replaced
--     'window_above_counter' W > counter + S, which no sequence of joins and advances produces
--     'counter_below_seen' / 'window_below_seen' / 'version_below_seen' in the caller's epoch
--   A new epoch's version is one above every version the caller or the store knew, so the
--   version of a queue never decreases as long as one replica remembers it.
-- Errors "WAITROOM_CORRUPT <what>" when the state is partially missing or a field is not a
-- valid integer in range (or mode is not a known state); "WAITROOM_ARG <what>" for a bad
-- argument. A damaged state is never reset: a counter set back to 0 would issue every ticket again.
local MAX = 9007199254740991 -- 2^53 - 1: Lua numbers are doubles, exact integers end here
-- tonumber() accepts 'nan', 'inf', '1e400', '0x1f', ' 7' and fractions: only plain decimal
-- integers of at most 16 digits pass here, then the range check.
local function int(v, lo, hi)
  if type(v) ~= 'string' or #v > 17 or not string.find(v, '^%-?%d+$') then return nil end
  local n = tonumber(v)
  if n < lo or n > hi then return nil end
  return n
end
local function arg(i, lo, hi)
  local n = int(ARGV[i], lo, hi)
  if not n then error({err = 'WAITROOM_ARG argument ' .. i .. ' is not an integer in [' .. lo .. ', ' .. hi .. ']'}) end
  return n
end
local function corrupt(what, v)
  return redis.error_reply('WAITROOM_CORRUPT ' .. what .. ' is "' .. tostring(v) .. '"')
end
local MODES = {open = true, paused = true, passthrough = true, closed = true}
local S, I, K, opensAt = arg(2, 1, 1000000000), arg(3, 1, 604800000), arg(4, 1, 1000000), arg(6, 0, MAX)
local mode = ARGV[5]
if not MODES[mode] then error({err = 'WAITROOM_ARG argument 5 is not a queue state'}) end
local seenCounter, seenW, seenVersion = arg(8, 0, MAX), arg(9, 0, MAX), arg(10, 0, MAX)

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rawCounter = redis.call('GET', KEYS[2])

local function create(version, created, reason, cS, cI, cK, cMode, cOpensAt)
  -- W starts at S: the first batch is admitted at once; the second after one interval.
  -- A pre-queue (opensAt in the future) admits nobody before it opens, then the first batch at opensAt.
  local W, due = cS, now + cI
  if cOpensAt > now then W, due = 0, cOpensAt end
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'epoch', ARGV[1], 'windowEnd', W, 'nextDueMs', due,
    'windowSize', cS, 'intervalMs', cI, 'activeWindowCount', cK, 'version', version, 'createdAtMs', now,
    'mode', cMode, 'opensAtMs', cOpensAt)
  redis.call('SET', KEYS[2], 0)
  return {created, ARGV[1], W, due, cS, cI, cK, version, 0, now, reason, cMode, cOpensAt}
end

if redis.call('EXISTS', KEYS[1]) == 0 then
  if rawCounter then return corrupt('ticket counter without queue state, counter', rawCounter) end
  return create(seenVersion + 1, 1, 'missing', S, I, K, mode, opensAt)
end
local f = redis.call('HMGET', KEYS[1], 'epoch', 'windowEnd', 'nextDueMs', 'windowSize', 'intervalMs', 'activeWindowCount', 'version', 'mode', 'opensAtMs')
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
local counter = int(rawCounter, 0, MAX)
if not counter then return corrupt('ticket counter', rawCounter) end

-- The store went backwards (a crash that lost the last writes, a failover to a lagging
-- replica, a restored backup, a hand edit): numbers above the stored counter may already
-- be held by visitors, so this epoch can never issue a ticket again.
local reason
for i = 11, #ARGV do
  if ARGV[i] == f[1] then reason = 'retired_epoch' end
end
if not reason and W > counter + sS then reason = 'window_above_counter' end
if not reason and ARGV[7] == f[1] then
  if counter < seenCounter then reason = 'counter_below_seen'
  elseif W < seenW then reason = 'window_below_seen'
  elseif version < seenVersion then reason = 'version_below_seen' end
end
if reason then return create(math.max(version, seenVersion) + 1, 2, reason, sS, sI, sK, sMode, sOpensAt) end
return {0, f[1], W, due, sS, sI, sK, version, counter, now, '', sMode, sOpensAt}
