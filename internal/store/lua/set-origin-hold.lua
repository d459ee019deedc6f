-- set-origin-hold.lua: hold or resume a queue's admissions because its site (the origin) is
-- unhealthy or healthy again: the leader's probe (internal/health/origin-health.ts) or the
-- site's own report (POST /admin/api/v1/queues/{id}/health). advance-window.lua holds while
-- originHold is 1, like a pause; visitors see the hold in the published state (ETA unknown).
--
-- KEYS[1]  queue state hash   waitroom:{<queue>}:state
-- KEYS[2]  ticket counter     waitroom:{<queue>}:counter
-- KEYS[3]  event stream       waitroom:{<queue>}:event-stream (docs/events.md)
-- ARGV[1]  1 to hold, 0 to resume
-- ARGV[2]  sharded pub/sub channel of the queue's state (SPUBLISH; same hash tag as the keys)
-- ARGV[3]  event stream length (MAXLEN ~)   ARGV[4]  queue id (for the event body)
-- ARGV[5]  who decided: 'probe' (the leader's probe) or 'site' (the site's own report)
-- ARGV[6]  why, for people (at most 500 bytes; the probe's error or the site's reason)
--
-- Returns {changed, epoch, windowEnd, nextDueMs, S, I, K, version, counter, nowMs, mode, opensAtMs, maxActive, originHold}
--   changed 1: the hold changed: the state version is bumped, the state published, and one
--             queue.origin_held or queue.origin_recovered event appended (the change and its
--             event in one step: an event exists if and only if the hold changed)
--   changed 0: it already was so; nothing written
-- Returns {-1} when the queue state is missing.
-- On resume the next advance is due at once when its time passed during the hold (the queue
-- was due then): admissions resume by themselves at the next ticker check.
-- Errors "WAITROOM_CORRUPT <what>" when a field is damaged; "WAITROOM_ARG" for a bad argument.
--#include checked-numbers
local want = int(ARGV[1], 0, 1)
if not want then error({err = 'WAITROOM_ARG argument 1 is not 0 or 1'}) end
local eventMax = int(ARGV[3], 1, 999999999)
if not eventMax then error({err = 'WAITROOM_ARG argument 3 (event stream length) is not an integer in [1, 999999999]'}) end
local queueId, source, reason = ARGV[4], ARGV[5], ARGV[6]
if type(queueId) ~= 'string' or #queueId == 0 or #queueId > 64 then error({err = 'WAITROOM_ARG argument 4 is not a queue id'}) end
if source ~= 'probe' and source ~= 'site' then error({err = 'WAITROOM_ARG argument 5 is not probe or site'}) end
if type(reason) ~= 'string' or #reason > 500 then error({err = 'WAITROOM_ARG argument 6 is not a reason of at most 500 bytes'}) end
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end
local MODES = {open = true, paused = true, passthrough = true, closed = true}
local f = redis.call('HMGET', KEYS[1], 'epoch', 'windowEnd', 'nextDueMs', 'windowSize', 'intervalMs', 'activeWindowCount', 'version', 'mode', 'opensAtMs', 'maxActive', 'originHold')
if type(f[1]) ~= 'string' or #f[1] == 0 or #f[1] > 64 then return corrupt('queue state field epoch', f[1]) end
local W, due = int(f[2], 0, MAX), int(f[3], 0, MAX)
local S, I, K, version = int(f[4], 1, 1000000000), int(f[5], 1, 604800000), int(f[6], 1, 1000000), int(f[7], 1, MAX - 1)
local mode, opensAt = f[8] or 'open', int(f[9] or '0', 0, MAX)
local cap, hold = int(f[10] or '0', 0, 1000000000), int(f[11] or '0', 0, 1)
if not W then return corrupt('queue state field windowEnd', f[2]) end
if not due then return corrupt('queue state field nextDueMs', f[3]) end
if not S then return corrupt('queue state field windowSize', f[4]) end
if not I then return corrupt('queue state field intervalMs', f[5]) end
if not K then return corrupt('queue state field activeWindowCount', f[6]) end
if not version then return corrupt('queue state field version', f[7]) end
if not MODES[mode] then return corrupt('queue state field mode', f[8]) end
if not opensAt then return corrupt('queue state field opensAtMs', f[9]) end
if not cap then return corrupt('queue state field maxActive', f[10]) end
if not hold then return corrupt('queue state field originHold', f[11]) end
local raw = redis.call('GET', KEYS[2])
local counter = int(raw, 0, MAX)
if not counter then return corrupt('ticket counter', raw) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if hold == want then
  return {0, f[1], W, due, S, I, K, version, counter, now, mode, opensAt, cap, hold}
end
version = version + 1
redis.call('HSET', KEYS[1], 'originHold', want, 'version', version)
local typ = 'queue.origin_recovered'
if want == 1 then typ = 'queue.origin_held' end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', eventMax, '*', 'type', typ, 'time', string.format('%d', now), 'body',
  string.format('{"queue":%s,"epoch":%s,"source":"%s","reason":%s,"counter":%d,"windowEnd":%d}',
    cjson.encode(queueId), cjson.encode(f[1]), source, cjson.encode(reason), counter, W))
local function d(x) return string.format('%d', x) end
redis.call('SPUBLISH', ARGV[2], cjson.encode({epoch = f[1], windowEnd = d(W), nextDueMs = d(due), windowSize = d(S),
  intervalMs = d(I), activeWindowCount = d(K), version = d(version), counter = d(counter), nowMs = d(now), mode = mode,
  opensAtMs = d(opensAt), maxActive = d(cap), originHold = d(want)}))
return {1, f[1], W, due, S, I, K, version, counter, now, mode, opensAt, cap, want}
