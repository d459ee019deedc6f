-- advance-window.lua: the ticker's one step, fenced by the leader lease and Redis's clock.
--
-- KEYS[1]  queue state hash   waitroom:{<queue>}:state
-- KEYS[2]  ticket counter     waitroom:{<queue>}:counter
-- KEYS[3]  leader lease       waitroom:{<queue>}:leader
-- ARGV[1]  owner id of the caller's lease
-- ARGV[2]  S, window size     ARGV[3]  I, interval in ms     ARGV[4]  K, active window count
-- ARGV[5]  pub/sub channel to announce the new state on
--
-- Returns {code, epoch, windowEnd, nextDueMs, S, I, K, version, counter, nowMs, lagMs}
--   code  1 advanced: W += S, nextDue = now + I, state published
--   code  0 skipped: due, but nobody waits (counter <= W); nextDue stays so that the
--           first ticket over W is admitted at the next check instead of a full interval later
--   code  2 not due yet (now < nextDue); nothing changed
--   code -1 the caller does not hold the lease; nothing changed (only {-1} is returned)
--   code -2 the queue state is missing; nothing changed (only {-2} is returned)
--   lagMs is how late this advance ran against its due time (0 unless code is 1 or 0).
--
-- Why a slot can never advance twice: the lease check and the due check run in one
-- atomic script against Redis's TIME, and an advance moves nextDue to now + I. A second
-- caller in the same slot, even one that still believes it leads, sees either a foreign
-- lease or a nextDue in the future. There is no catch-up: after an outage the next
-- advance is due one interval after the first late one, never a burst.
if redis.call('GET', KEYS[3]) ~= ARGV[1] then return {-1} end
if redis.call('EXISTS', KEYS[1]) == 0 then return {-2} end
local f = redis.call('HMGET', KEYS[1], 'epoch', 'windowEnd', 'nextDueMs', 'version', 'windowSize', 'intervalMs', 'activeWindowCount')
if not f[1] then return redis.error_reply('WAITROOM_CORRUPT queue state has no epoch') end
local W, due, version = tonumber(f[2]), tonumber(f[3]), tonumber(f[4])
local storedS, storedI, storedK = tonumber(f[5]), tonumber(f[6]), tonumber(f[7])
local counter = tonumber(redis.call('GET', KEYS[2]))
if not (W and due and version and storedS and storedI and storedK and counter) then
  return redis.error_reply('WAITROOM_CORRUPT queue state or counter missing or not numeric')
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
-- Nothing changes unless W advances, so these replies carry the stored settings.
if now < due then
  return {2, f[1], W, due, storedS, storedI, storedK, version, counter, now, 0}
end
local lag = now - due
if counter <= W then
  return {0, f[1], W, due, storedS, storedI, storedK, version, counter, now, lag}
end
local S, I, K = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
W = W + S
due = now + I
version = version + 1
-- The leader's settings become the queue's, so every replica computes with the same S, I, K.
redis.call('HSET', KEYS[1], 'windowEnd', W, 'nextDueMs', due, 'windowSize', S, 'intervalMs', I,
  'activeWindowCount', K, 'version', version)
redis.call('PUBLISH', ARGV[5], cjson.encode({epoch = f[1], windowEnd = W, nextDueMs = due, windowSize = S,
  intervalMs = I, activeWindowCount = K, version = version, counter = counter, nowMs = now}))
return {1, f[1], W, due, S, I, K, version, counter, now, lag}
