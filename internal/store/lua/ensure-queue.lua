-- ensure-queue.lua: create a queue's state if it is missing, then return it.
-- Called at start, by every periodic refresh and after a join found no state.
--
-- KEYS[1]  queue state hash   waitroom:{<queue>}:state
-- KEYS[2]  ticket counter     waitroom:{<queue>}:counter
-- ARGV[1]  candidate epoch: a random id made by the caller, used only if this call creates the state
-- ARGV[2]  S, window size          ARGV[3]  I, window interval in ms
-- ARGV[4]  K, active window count
--
-- Returns {created, epoch, windowEnd, nextDueMs, S, I, K, version, counter, nowMs}
--   created is 1 when this call created the state (a new epoch), else 0; nowMs is Redis's TIME.
-- Errors "WAITROOM_CORRUPT <what>" when the state is partially missing or not numeric.
-- It never resets a damaged state: a counter set back to 0 would issue every ticket again.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local counter = redis.call('GET', KEYS[2])
if redis.call('EXISTS', KEYS[1]) == 0 then
  if counter then
    return redis.error_reply('WAITROOM_CORRUPT ticket counter exists without queue state')
  end
  local S, I, K = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
  -- W starts at S: the first batch is admitted at once; the second after one interval.
  redis.call('HSET', KEYS[1], 'epoch', ARGV[1], 'windowEnd', S, 'nextDueMs', now + I,
    'windowSize', S, 'intervalMs', I, 'activeWindowCount', K, 'version', 1, 'createdAtMs', now)
  redis.call('SET', KEYS[2], 0)
  return {1, ARGV[1], S, now + I, S, I, K, 1, 0, now}
end
local f = redis.call('HMGET', KEYS[1], 'epoch', 'windowEnd', 'nextDueMs', 'windowSize', 'intervalMs', 'activeWindowCount', 'version')
if not f[1] then return redis.error_reply('WAITROOM_CORRUPT queue state has no epoch') end
for i = 2, 7 do
  f[i] = tonumber(f[i])
  if not f[i] then return redis.error_reply('WAITROOM_CORRUPT queue state field ' .. i .. ' missing or not numeric') end
end
counter = tonumber(counter)
if not counter then return redis.error_reply('WAITROOM_CORRUPT ticket counter missing or not numeric') end
return {0, f[1], f[2], f[3], f[4], f[5], f[6], f[7], counter, now}
