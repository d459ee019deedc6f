-- read-queue.lua: one consistent read of a queue's settings and state.
--
-- KEYS[1]  queue config hash   KEYS[2]  queue state hash   KEYS[3]  ticket counter
--
-- Returns {version, doc, epoch, windowEnd, nextDueMs, S, I, K, stateVersion, counter, nowMs, mode, opensAtMs, maxActive, originHold}
--         {0}  no such queue (no config)
-- Errors "WAITROOM_CORRUPT <what>" when the config exists but the state is damaged or missing
-- (every number checked as in ensure-queue.lua).
--#include checked-numbers
local MODES = {open = true, paused = true, passthrough = true, closed = true}
local c = redis.call('HMGET', KEYS[1], 'version', 'doc')
if not c[1] and not c[2] then return {0} end
local version = int(c[1], 1, MAX)
if not version then return corrupt('queue config field version', c[1]) end
if type(c[2]) ~= 'string' then return corrupt('queue config field doc', c[2]) end
local f = redis.call('HMGET', KEYS[2], 'epoch', 'windowEnd', 'nextDueMs', 'windowSize', 'intervalMs', 'activeWindowCount', 'version', 'mode', 'opensAtMs', 'maxActive', 'originHold')
if not f[1] then return corrupt('queue state (config exists without it), epoch', f[1]) end
if type(f[1]) ~= 'string' or #f[1] == 0 or #f[1] > 64 then return corrupt('queue state field epoch', f[1]) end
local W, due = int(f[2], 0, MAX), int(f[3], 0, MAX)
local S, I, K, sv = int(f[4], 1, 1000000000), int(f[5], 1, 604800000), int(f[6], 1, 1000000), int(f[7], 1, MAX)
local mode, opensAt = f[8] or 'open', int(f[9] or '0', 0, MAX)
if not W then return corrupt('queue state field windowEnd', f[2]) end
if not due then return corrupt('queue state field nextDueMs', f[3]) end
if not S then return corrupt('queue state field windowSize', f[4]) end
if not I then return corrupt('queue state field intervalMs', f[5]) end
if not K then return corrupt('queue state field activeWindowCount', f[6]) end
if not sv then return corrupt('queue state field version', f[7]) end
if not MODES[mode] then return corrupt('queue state field mode', f[8]) end
if not opensAt then return corrupt('queue state field opensAtMs', f[9]) end
local cap = int(f[10] or '0', 0, 1000000000)
if not cap then return corrupt('queue state field maxActive', f[10]) end
local hold = int(f[11] or '0', 0, 1)
if not hold then return corrupt('queue state field originHold', f[11]) end
local raw = redis.call('GET', KEYS[3])
local counter = int(raw, 0, MAX)
if not counter then return corrupt('ticket counter', raw) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return {version, c[2], f[1], W, due, S, I, K, sv, counter, now, mode, opensAt, cap, hold}
