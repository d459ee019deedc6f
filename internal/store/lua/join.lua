-- join.lua: issue n consecutive tickets in one atomic step.
-- Joins that reach one replica together share one call (internal/service/ticket-batcher.ts),
-- so n tickets cost one round trip; the caller hands them out in arrival order.
--
-- KEYS[1]  queue state hash   waitroom:{<queue>}:state
-- KEYS[2]  ticket counter     waitroom:{<queue>}:counter
-- ARGV[1]  n, tickets wanted (1 or more)
--
-- Returns {last, epoch, windowEnd, nextDueMs, S, I, K, version, nowMs}: the tickets are
--   last-n+1 .. last, all of the returned epoch. Returns {0} when the queue state is missing
--   (the caller then runs ensure-queue.lua, which creates a new epoch, and tries again).
-- Errors "WAITROOM_CORRUPT <what>" when the state is partially missing: INCRBY on a missing
-- counter would silently restart numbering at 1 and issue duplicate places.
if redis.call('EXISTS', KEYS[1]) == 0 then return {0} end
if redis.call('EXISTS', KEYS[2]) == 0 then
  return redis.error_reply('WAITROOM_CORRUPT ticket counter missing while queue state exists')
end
local f = redis.call('HMGET', KEYS[1], 'epoch', 'windowEnd', 'nextDueMs', 'windowSize', 'intervalMs', 'activeWindowCount', 'version')
if not f[1] then return redis.error_reply('WAITROOM_CORRUPT queue state has no epoch') end
for i = 2, 7 do
  f[i] = tonumber(f[i])
  if not f[i] then return redis.error_reply('WAITROOM_CORRUPT queue state field ' .. i .. ' missing or not numeric') end
end
local last = redis.call('INCRBY', KEYS[2], tonumber(ARGV[1]))
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return {last, f[1], f[2], f[3], f[4], f[5], f[6], f[7], now}
