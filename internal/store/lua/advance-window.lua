-- advance-window.lua: the ticker's one step, fenced by the leader lease and Redis's clock.
--
-- KEYS[1]  queue state hash   waitroom:{<queue>}:state
-- KEYS[2]  ticket counter     waitroom:{<queue>}:counter
-- KEYS[3]  leader lease       waitroom:{<queue>}:leader
-- KEYS[4]  event stream                  waitroom:{<queue>}:event-stream (docs/events.md)
-- KEYS[5]  live passes (zset)            waitroom:{<queue>}:passes
-- KEYS[6]  pass counters (hash)          waitroom:{<queue>}:pass-stats
-- KEYS[7]  occupancy accounting (hash)   waitroom:{<queue>}:occupancy
-- KEYS[8]  open claim windows (zset)     waitroom:{<queue>}:claim-windows
-- KEYS[9]  claimed tickets (zset)        waitroom:{<queue>}:claimed-tickets
-- KEYS[10] gone bitmap of ARGV[10]'s epoch waitroom:{<queue>}:gone:<epoch> (docs/system.md, "No-shows")
-- ARGV[1]  owner id of the caller's lease
-- ARGV[2]  sharded pub/sub channel to announce the new state on (SPUBLISH; it carries the
--          queue's hash tag, so on a Redis Cluster the message stays on the queue's shard)
-- ARGV[3]  the caller's high-water mark: epoch it last saw ('' when it saw none)
-- ARGV[4]  ... highest counter  ARGV[5]  ... highest W  ARGV[6]  ... highest version, seen in that epoch
-- ARGV[7]  event stream length (MAXLEN ~)   ARGV[8]  queue id (for the event body)
-- ARGV[9]  no-show compensation: 0 off, else B, the most W may move per advance in multiples of
--          the tickets it admits (the queue's compensateNoShows; the leader passes it)
-- ARGV[10] the epoch KEYS[10] belongs to (the caller's cached one; when it is not the stored
--          epoch the bitmap is not read: no compensation in this step)
-- ARGV[11..] epochs the caller saw replaced
--
-- S, I, K and the queue's mode are read from the state hash, never taken from the caller:
-- replicas started with different settings (a rolling restart) still advance one queue
-- one way. The admin API changes them with update-queue.lua.
--
-- Returns {code, epoch, windowEnd, nextDueMs, S, I, K, version, counter, nowMs, lagMs, mode, opensAtMs,
--          maxActive, originHold, occupancy, nextFreeMs, skipped}
--   code  1 advanced: W += S (with a cap: W += n, see below), state published
--   code  4 full: due and somebody waits, but occupancy = maxActive; nothing changed. nextFreeMs
--           is when a place frees by itself (the first pass expiry or claim-window end; 0 for
--           none): the ticker sleeps until then, or until a pass is reported done.
--   code  0 skipped: due, but nobody waits (counter <= W); nextDue stays so that the
--           first ticket over W is admitted at the next check instead of a full interval later
--   code  2 not due yet (now < nextDue); nothing changed
--   code  3 held: the queue is paused, closed or in passthrough, or its origin is unhealthy
--           (originHold = 1, set-origin-hold.lua); nothing changed
--   code -1 the caller does not hold the lease; nothing changed (only {-1} is returned)
--   code -2 the queue state is missing; nothing changed (only {-2} is returned)
--   code -3 the state went backwards; nothing changed; returns {-3, reason} with the tests and
--           reasons of ensure-queue.lua, which the caller runs next to start a new epoch
--   An advance (code 1) appends one window.advanced event: tickets fromTicket..toTicket
--   (old W + 1 .. new W) are admitted from this moment (those not yet issued, when issued).
--   Any code from 0 on, when the occupancy step ran, appends one pass.abandoned per expired
--   pass it retired (reason "timed_out").
--   An advance that drains the line below the length alert's clearBelow after it fired also
--   appends one queue.length_recovered (reason "below_clear") and re-arms the alert.
--   lagMs is how late this advance ran against its due time (0 unless code is 1 or 0).
--   skipped is how many tickets marked gone this advance moved W over (code 1, compensating).
-- Errors "WAITROOM_CORRUPT <what>" when a field is missing or not a valid integer in range
-- (or mode is not a known state).
--
-- Occupancy (docs/system.md, "Occupancy"): the places taken on the site are the live passes
-- (claimed, not done, not expired: ZCARD of KEYS[5] once the expired ones are retired here, as
-- pass-sweep.lua does) plus the admitted tickets not yet claimed whose claim window is open.
-- Every advance records its tickets (W+1 .. W+n) as one claim window in KEYS[8], scored by the
-- time it closes (now + K*I, never before an earlier window: windows close in ticket order), and
-- adds n to `pending`; claim-pass.lua moves a ticket of an open window from pending to the live
-- passes (ZADD KEYS[9]) and this script subtracts the unclaimed rest of each window that closed.
-- The accounting is kept with or without a cap, so a cap set on a running queue applies at once.
--
-- With a cap (maxActive > 0) an advance admits n = min(S - used, counter - W, maxActive -
-- occupancy) where `used` counts what this slot already admitted: when places are full at the
-- due time the slot does not start (nextDue stays, code 4), and a place that frees later in a
-- started slot tops it up at once (the ticker is woken by the done message), never more than S
-- per slot. W never passes the counter with a cap: a ticket issued later must wait its turn.
-- Without a cap nothing changes: W += S once per slot.
--
-- No-shows (docs/system.md, "No-shows"): with compensation on (ARGV[9] = B > 0) an advance admits
-- n tickets that are still present (bit 0 in KEYS[10]), skipping those marked gone: W moves to the
-- n-th present ticket after W (tickets above the counter were never issued, so none is gone), but
-- never more than B*n tickets, which bounds the work (BITCOUNT over at most B*n bits). Skipped
-- tickets keep their bit: a skipped ticket that comes back is told so, and cannot claim. They take
-- no place: each claim window remembers how many it skipped ("<hi>:<skipped>") and its close
-- subtracts only the present ones. With compensation off, an advance clears the bits of the range
-- it admits: those visitors were counted, and one who comes back is simply admitted.
--
-- Why a slot can never advance twice: the lease check and the due check run in one
-- atomic script against Redis's TIME, and an advance moves nextDue to now + I. A second
-- caller in the same slot, even one that still believes it leads, sees either a foreign
-- lease or a nextDue in the future. There is no catch-up: after an outage the next
-- advance is due one interval after the first late one, never a burst.
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
local seenCounter, seenW, seenVersion = arg(4, 0, MAX), arg(5, 0, MAX), arg(6, 0, MAX)
local eventMax, queueId = eventArgs(7)
local B = arg(9, 0, 1000)

if redis.call('GET', KEYS[3]) ~= ARGV[1] then return {-1} end
if redis.call('EXISTS', KEYS[1]) == 0 then return {-2} end
local f = redis.call('HMGET', KEYS[1], 'epoch', 'windowEnd', 'nextDueMs', 'version', 'windowSize', 'intervalMs', 'activeWindowCount', 'mode', 'opensAtMs', 'maxActive', 'originHold')
if type(f[1]) ~= 'string' or #f[1] == 0 or #f[1] > 64 then return corrupt('queue state field epoch', f[1]) end
local W, due, version = int(f[2], 0, MAX), int(f[3], 0, MAX), int(f[4], 1, MAX)
local S, I, K = int(f[5], 1, 1000000000), int(f[6], 1, 604800000), int(f[7], 1, 1000000)
-- A state written before queue states existed has neither field: open, no opening time.
local mode, opensAt = f[8] or 'open', int(f[9] or '0', 0, MAX)
if not W then return corrupt('queue state field windowEnd', f[2]) end
if not due then return corrupt('queue state field nextDueMs', f[3]) end
if not version then return corrupt('queue state field version', f[4]) end
if not S then return corrupt('queue state field windowSize', f[5]) end
if not I then return corrupt('queue state field intervalMs', f[6]) end
if not K then return corrupt('queue state field activeWindowCount', f[7]) end
if not MODES[mode] then return corrupt('queue state field mode', f[8]) end
if not opensAt then return corrupt('queue state field opensAtMs', f[9]) end
local cap = int(f[10] or '0', 0, 1000000000)
if not cap then return corrupt('queue state field maxActive', f[10]) end
local hold = int(f[11] or '0', 0, 1)
if not hold then return corrupt('queue state field originHold', f[11]) end
local raw = redis.call('GET', KEYS[2])
local counter = int(raw, 0, MAX)
if not counter then return corrupt('ticket counter', raw) end

for i = 11, #ARGV do
  if ARGV[i] == f[1] then return {-3, 'retired_epoch'} end
end
if W > counter + S then return {-3, 'window_above_counter'} end
if ARGV[3] == f[1] then
  if counter < seenCounter then return {-3, 'counter_below_seen'} end
  if W < seenW then return {-3, 'window_below_seen'} end
  if version < seenVersion then return {-3, 'version_below_seen'} end
end

local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
-- The site's origin is unhealthy (set-origin-hold.lua): held like a pause, nothing changes.
if mode ~= 'open' or hold == 1 then
  return {3, f[1], W, due, S, I, K, version, counter, now, 0, mode, opensAt, cap, hold, 0, 0, 0}
end
local newSlot = now >= due
-- Without a cap a slot is one advance: nothing to do before it is due (no Redis writes).
if not newSlot and cap == 0 then
  return {2, f[1], W, due, S, I, K, version, counter, now, 0, mode, opensAt, cap, hold, 0, 0, 0}
end
-- Queue length alert (docs/events.md; internal/queue/length-alert.ts): read and checked before
-- the first write below. An advance only lowers the waiting count, so it can only re-arm.
local la = redis.call('HMGET', KEYS[1], 'lengthAlertThreshold', 'lengthAlertClearBelow', 'lengthAlertFired')
local alertAt, clearBelow, fired = int(la[1] or '0', 0, 1000000000), int(la[2] or '0', 0, 1000000000), int(la[3] or '0', 0, 1)
if not alertAt then return corrupt('queue state field lengthAlertThreshold', la[1]) end
if not clearBelow then return corrupt('queue state field lengthAlertClearBelow', la[2]) end
if not fired then return corrupt('queue state field lengthAlertFired', la[3]) end

-- Occupancy accounting, reset with every new epoch (the tickets it counts are the epoch's).
local a = redis.call('HMGET', KEYS[7], 'epoch', 'pending', 'openFrom', 'lastCloseMs', 'slotUsed', 'slotDueMs')
local pending, openFrom, lastClose, slotUsed, slotDue
if a[1] ~= f[1] then
  pending, openFrom, lastClose, slotUsed, slotDue = 0, W + 1, 0, 0, 0
  redis.call('DEL', KEYS[8], KEYS[9])
else
  pending, openFrom, lastClose = int(a[2], 0, MAX), int(a[3], 0, MAX), int(a[4], 0, MAX)
  slotUsed, slotDue = int(a[5], 0, MAX), int(a[6], 0, MAX)
  if not pending then return corrupt('occupancy field pending', a[2]) end
  if not openFrom then return corrupt('occupancy field openFrom', a[3]) end
  if not lastClose then return corrupt('occupancy field lastCloseMs', a[4]) end
  if not slotUsed then return corrupt('occupancy field slotUsed', a[5]) end
  if not slotDue then return corrupt('occupancy field slotDueMs', a[6]) end
end
-- Passes past their exp free their place now (counted, and each appends one pass.abandoned
-- event with reason "timed_out", as pass-sweep.lua does: whichever script retires a pass reports it).
local expired = redis.call('ZRANGE', KEYS[5], '-inf', now, 'BYSCORE', 'WITHSCORES')
for i = 1, #expired, 2 do
  emit(KEYS[4], eventMax, 'pass.abandoned', now, string.format('{"queue":%s,"jti":%s,"expMs":%d,"reason":"timed_out"}',
    cjson.encode(queueId), cjson.encode(expired[i]), tonumber(expired[i + 1])))
end
local timedOut = redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now)
if timedOut > 0 then
  redis.call('HINCRBY', KEYS[6], 'abandoned', timedOut)
  redis.call('HINCRBY', KEYS[6], 'timedOut', timedOut)
end
-- Claim windows that closed free the places of their unclaimed tickets.
local closed = redis.call('ZRANGEBYSCORE', KEYS[8], '-inf', now)
for _, member in ipairs(closed) do
  -- "<hi>" or "<hi>:<skipped>": skipped tickets were never counted in pending.
  local hiText, skippedText = string.match(member, '^(%d+):(%d+)$')
  if not hiText then hiText, skippedText = member, '0' end
  local hi, skippedIn = int(hiText, 0, MAX), int(skippedText, 0, MAX)
  if not hi or not skippedIn then return corrupt('claim window end', member) end
  if hi >= openFrom then
    local claimed = redis.call('ZCOUNT', KEYS[9], openFrom, hi)
    pending = pending - (hi - openFrom + 1 - claimed - skippedIn)
    openFrom = hi + 1
  end
end
if #closed > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[8], '-inf', now)
  redis.call('ZREMRANGEBYSCORE', KEYS[9], '-inf', openFrom - 1)
end
if pending < 0 then return corrupt('occupancy field pending (below 0 after closing windows)', pending) end
local occupancy = redis.call('ZCARD', KEYS[5]) + pending
local function saveAccounting()
  redis.call('HSET', KEYS[7], 'epoch', f[1], 'pending', pending, 'openFrom', openFrom, 'lastCloseMs', lastClose,
    'slotUsed', slotUsed, 'slotDueMs', slotDue)
end
-- When a place frees by itself: the first pass expiry or the first claim window to close.
local function nextFree()
  local nf = 0
  local p = redis.call('ZRANGE', KEYS[5], 0, 0, 'WITHSCORES')
  if p[2] then nf = tonumber(p[2]) end
  local c = redis.call('ZRANGE', KEYS[8], 0, 0, 'WITHSCORES')
  if c[2] and (nf == 0 or tonumber(c[2]) < nf) then nf = tonumber(c[2]) end
  return nf
end

local lag = 0
if newSlot then lag = now - due end
local used = 0
if not newSlot then
  -- A started slot: only what it has not admitted yet (a slot this script did not record is spent).
  if slotDue == due then used = slotUsed else used = S end
end
local n
if counter <= W then
  n = 0
elseif cap == 0 then
  n = S
else
  n = math.min(S - used, counter - W, cap - occupancy)
end
-- move: how far W moves; n: how many of those tickets are admitted (present ones).
local move = n
local compensate = B > 0 and ARGV[10] == f[1]
if compensate and n > 0 then
  -- The least m such that W+1 .. W+m hold n present tickets, m <= limit. Chunks at least double
  -- the span looked at (and are never under 64 bits), so a long run of gone tickets costs
  -- O(log(limit)) BITCOUNTs; the n-th present ticket inside the last chunk is found by bisection.
  local limit = B * n
  if cap > 0 then limit = math.min(limit, counter - W) end
  local function present(a, b) return b - a + 1 - redis.call('BITCOUNT', KEYS[10], W + a, W + b, 'BIT') end
  local pos, got = 0, 0
  while got < n and pos < limit do
    local c = math.min(math.max(n - got, 64, pos), limit - pos)
    local p = present(pos + 1, pos + c)
    if got + p < n then
      got, pos = got + p, pos + c
    else
      local lo, hi = n - got, c
      while lo < hi do
        local mid = math.floor((lo + hi) / 2)
        if present(pos + 1, pos + mid) >= n - got then hi = mid else lo = mid + 1 end
      end
      got, pos = n, pos + lo
    end
  end
  move, n = pos, got
elseif n > 0 and ARGV[10] == f[1] and redis.call('BITCOUNT', KEYS[10], W + 1, W + n, 'BIT') > 0 then
  -- Without compensation the visitors of this range are admitted and counted, gone or not: their
  -- bits are cleared (byte by byte in the middle, bit by bit at the unaligned ends; at most n/8 bytes).
  local a, b = W + 1, math.min(W + n, redis.call('STRLEN', KEYS[10]) * 8 - 1)
  while a <= b and a % 8 ~= 0 do redis.call('SETBIT', KEYS[10], a, 0); a = a + 1 end
  while b >= a and (b + 1) % 8 ~= 0 do redis.call('SETBIT', KEYS[10], b, 0); b = b - 1 end
  if b >= a then redis.call('SETRANGE', KEYS[10], a / 8, string.rep('\0', (b - a + 1) / 8)) end
end
if move <= 0 then
  saveAccounting()
  if not newSlot then
    return {2, f[1], W, due, S, I, K, version, counter, now, 0, mode, opensAt, cap, hold, occupancy, nextFree(), 0}
  end
  if counter <= W then
    -- Nobody waits: nextDue stays, so the first ticket over W is admitted at the next check.
    return {0, f[1], W, due, S, I, K, version, counter, now, lag, mode, opensAt, cap, hold, occupancy, 0, 0}
  end
  return {4, f[1], W, due, S, I, K, version, counter, now, lag, mode, opensAt, cap, hold, occupancy, nextFree(), 0}
end
if W + move > MAX then return corrupt('queue state field windowEnd (no room to advance)', W) end
local fromTicket = W + 1
local skipped = move - n
W = W + move
if newSlot then
  due = now + I
  slotUsed = n
else
  slotUsed = used + n
end
slotDue = due
pending = pending + n
occupancy = occupancy + n
lastClose = math.max(now + K * I, lastClose)
if skipped > 0 then
  redis.call('ZADD', KEYS[8], lastClose, string.format('%d:%d', W, skipped))
  -- The skipped bits must outlive the claim window and the active life of their range.
  if redis.call('PTTL', KEYS[10]) < (K + 1) * I then redis.call('PEXPIRE', KEYS[10], (K + 1) * I) end
else
  redis.call('ZADD', KEYS[8], lastClose, string.format('%d', W))
end
saveAccounting()
version = version + 1
redis.call('HSET', KEYS[1], 'windowEnd', W, 'nextDueMs', due, 'version', version)
-- Numbers travel as decimal strings: cjson writes numbers with 14 significant digits, which
-- could round a large counter up and make a replica believe it saw more than was issued.
local function d(x) return string.format('%d', x) end
redis.call('SPUBLISH', ARGV[2], cjson.encode({epoch = f[1], windowEnd = d(W), nextDueMs = d(due), windowSize = d(S),
  intervalMs = d(I), activeWindowCount = d(K), version = d(version), counter = d(counter), nowMs = d(now), mode = mode,
  opensAtMs = d(opensAt), maxActive = d(cap), originHold = d(hold)}))
emit(KEYS[4], eventMax, 'window.advanced', now, string.format(
  '{"queue":%s,"epoch":%s,"fromTicket":%d,"toTicket":%d,"counter":%d,"windowSize":%d,"lagMs":%d,"skipped":%d}',
  cjson.encode(queueId), cjson.encode(f[1]), fromTicket, W, counter, S, lag, skipped))
-- The alert re-arms once the line has drained below clearBelow (or has no threshold any more).
local waiting = math.max(0, counter - W)
if fired == 1 and (alertAt == 0 or waiting < clearBelow) then
  redis.call('HSET', KEYS[1], 'lengthAlertFired', 0)
  local why = 'below_clear'
  if alertAt == 0 then why = 'alert_removed' end
  emit(KEYS[4], eventMax, 'queue.length_recovered', now, string.format(
    '{"queue":%s,"epoch":%s,"waiting":%d,"threshold":%d,"clearBelow":%d,"counter":%d,"windowEnd":%d,"reason":"%s"}',
    cjson.encode(queueId), cjson.encode(f[1]), waiting, alertAt, clearBelow, counter, W, why))
end
return {1, f[1], W, due, S, I, K, version, counter, now, lag, mode, opensAt, cap, hold, occupancy, 0, skipped}
